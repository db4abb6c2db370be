// Passkey ceremonies for every portal (card holder, professional, operator), driven by data
// attributes: no inline script anywhere (CSP). In a template, write it with the `passkey` macro of
// templates/macros.html; on the page:
//
//   <div data-passkey="get|create"            get = sign in (assertion), create = register
//        data-options-url="/…/options"        POST → WebAuthn options (JSON, base64url fields)
//        data-submit-url="/…"                 POST {credential, ...form fields} → {location} or
//                                             {message} (shown in the alert zone)
//        data-form="form-id"                  optional: a form whose named fields are sent too
//        data-failed="…" data-cancelled="…" data-unsupported="…">   texts (translated)
//     <div data-passkey-message role="alert" aria-live="assertive"></div>
//     <button type="button" data-passkey-button>…</button>
//   </div>
//
// User verification is required by the server's options; the session's CSRF token (the body's
// hx-headers) goes with every POST.
(function () {
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

  function descriptors(list) {
    return (list || []).map(function (c) {
      return { type: c.type, id: fromB64url(c.id), transports: c.transports };
    });
  }

  function getOptions(options) {
    return {
      challenge: fromB64url(options.challenge),
      rpId: options.rpId,
      timeout: options.timeout,
      userVerification: options.userVerification,
      allowCredentials: descriptors(options.allowCredentials)
    };
  }

  function createOptions(options) {
    return {
      challenge: fromB64url(options.challenge),
      rp: options.rp,
      user: {
        id: fromB64url(options.user.id),
        name: options.user.name,
        displayName: options.user.displayName
      },
      pubKeyCredParams: options.pubKeyCredParams,
      timeout: options.timeout,
      excludeCredentials: descriptors(options.excludeCredentials),
      authenticatorSelection: options.authenticatorSelection,
      attestation: options.attestation
    };
  }

  function asJson(credential) {
    var response = credential.response;
    var fields = { clientDataJSON: toB64url(response.clientDataJSON) };
    if (response.attestationObject) {
      fields.attestationObject = toB64url(response.attestationObject);
      if (response.getTransports) { fields.transports = response.getTransports(); }
    } else {
      fields.authenticatorData = toB64url(response.authenticatorData);
      fields.signature = toB64url(response.signature);
      if (response.userHandle) { fields.userHandle = toB64url(response.userHandle); }
    }
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: fields,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    };
  }

  function formFields(root) {
    var id = root.getAttribute("data-form");
    var form = id ? document.getElementById(id) : null;
    var values = {};
    if (!form) { return values; }
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token" && typeof value === "string") { values[name] = value; }
    });
    return values;
  }

  function setUp(root) {
    var mode = root.getAttribute("data-passkey");
    var button = root.querySelector("[data-passkey-button]");
    var message = root.querySelector("[data-passkey-message]");
    if (!button || !message) { return; }

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
      var extra = formFields(root);
      var idForm = root.getAttribute("data-form");
      var form = idForm ? document.getElementById(idForm) : null;
      if (form && !form.reportValidity()) { return; }
      button.disabled = true;
      post(root.getAttribute("data-options-url"), extra).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var error = new Error("options " + response.status);
            error.serverMessage = body.message;
            throw error;
          }
          return body;
        });
      }).then(function (options) {
        var ceremony = mode === "create"
          ? navigator.credentials.create({ publicKey: createOptions(options) })
          : navigator.credentials.get({ publicKey: getOptions(options) });
        return ceremony.catch(function (error) {
          error.cancelled = true;
          throw error;
        });
      }).then(function (credential) {
        var body = Object.assign({}, extra, { credential: asJson(credential) });
        return post(root.getAttribute("data-submit-url"), body);
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
        var text = error && error.serverMessage;
        show(text || root.getAttribute(error && error.cancelled ? "data-cancelled" : "data-failed"));
        button.disabled = false;
      });
    });
  }

  var roots = document.querySelectorAll("[data-passkey]");
  for (var i = 0; i < roots.length; i++) { setUp(roots[i]); }
})();
