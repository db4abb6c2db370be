// "Se connecter avec ma carte": a WebAuthn assertion (user verification required) on options from
// the server, posted back with the session's CSRF token. No inline script anywhere (CSP).
(function () {
  var root = document.getElementById("connexion-carte");
  var button = document.getElementById("bouton-connexion");
  var message = document.getElementById("connexion-message");
  if (!root || !button) { return; }

  function fromB64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
    } catch (e) { return ""; }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body || {})
    });
  }

  function show(text) {
    message.innerHTML = "";
    var alert = document.createElement("div");
    alert.className = "fr-alert fr-alert--error fr-alert--sm fr-mb-3w";
    var p = document.createElement("p");
    p.textContent = text;
    alert.appendChild(p);
    message.appendChild(alert);
  }

  button.addEventListener("click", function () {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show(root.getAttribute("data-unsupported"));
      return;
    }
    button.disabled = true;
    post("/carte/connexion/options").then(function (response) {
      if (!response.ok) { throw new Error("options " + response.status); }
      return response.json();
    }).then(function (options) {
      var publicKey = {
        challenge: fromB64url(options.challenge),
        rpId: options.rpId,
        timeout: options.timeout,
        userVerification: options.userVerification,
        allowCredentials: (options.allowCredentials || []).map(function (c) {
          return { type: c.type, id: fromB64url(c.id), transports: c.transports };
        })
      };
      return navigator.credentials.get({ publicKey: publicKey }).catch(function (error) {
        error.cancelled = true;
        throw error;
      });
    }).then(function (credential) {
      var response = credential.response;
      var fields = {
        clientDataJSON: toB64url(response.clientDataJSON),
        authenticatorData: toB64url(response.authenticatorData),
        signature: toB64url(response.signature)
      };
      if (response.userHandle) { fields.userHandle = toB64url(response.userHandle); }
      return post("/carte/connexion", {
        credential: {
          id: credential.id,
          rawId: toB64url(credential.rawId),
          type: credential.type,
          response: fields,
          clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
        }
      });
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok && body.location) {
          window.location.assign(body.location);
          return;
        }
        show(body.message || root.getAttribute("data-failed"));
        button.disabled = false;
      });
    }).catch(function (error) {
      show(root.getAttribute(error && error.cancelled ? "data-cancelled" : "data-failed"));
      button.disabled = false;
    });
  });
})();
