// The professional portal's webcam capture (/pro): shows the webcam section only when the browser
// has a camera API and a camera, streams it into <video>, and on "Capturer et lire" draws the
// frame on a <canvas>, puts it as a PNG file into the photo form's file input and submits that
// form: the server decodes it exactly like a photo. Without a camera (or if access is refused)
// the file input (phone camera or a picture) stays the way to read a photo.
(function () {
  var section = document.getElementById("webcam");
  if (!section) { return; }
  var form = document.getElementById(section.getAttribute("data-webcam-form"));
  var input = document.getElementById(section.getAttribute("data-webcam-input"));
  var video = document.getElementById("webcam-video");
  var canvas = document.getElementById("webcam-image");
  var start = document.getElementById("webcam-demarrer");
  var capture = document.getElementById("webcam-capturer");
  var state = document.getElementById("webcam-etat");
  var refused = document.getElementById("webcam-refus");
  var media = navigator.mediaDevices;
  if (!form || !input || !video || !canvas || !start || !capture || !media ||
      typeof media.getUserMedia !== "function" || typeof DataTransfer !== "function") {
    return;
  }
  var stream = null;

  function unavailable() {
    refused.hidden = false;
    start.disabled = true;
    capture.disabled = true;
  }

  function stop() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
  }

  function show() { section.hidden = false; }

  if (typeof media.enumerateDevices === "function") {
    media.enumerateDevices().then(function (devices) {
      if (devices.some(function (d) { return d.kind === "videoinput"; })) { show(); }
    }).catch(function () { /* no camera information: keep the file input only */ });
  } else {
    show();
  }

  start.addEventListener("click", function () {
    start.disabled = true;
    media.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      capture.disabled = false;
      state.textContent = start.getAttribute("data-ready") || "";
      capture.focus();
    }).catch(function () { unavailable(); });
  });

  capture.addEventListener("click", function () {
    var width = video.videoWidth, height = video.videoHeight;
    if (!width || !height) { return; }
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(video, 0, 0, width, height);
    capture.disabled = true;
    canvas.toBlob(function (blob) {
      if (!blob) { capture.disabled = false; return; }
      var files = new DataTransfer();
      files.items.add(new File([blob], "webcam.png", { type: "image/png" }));
      input.files = files.files;
      stop();
      form.submit();
    }, "image/png");
  });

  window.addEventListener("pagehide", stop);
})();
