// Carnet's small behaviours on top of the DSFR and htmx.
(function () {
  // After htmx replaces a form, move the focus to its message (screen readers announce it) or
  // to the field in error, as a full page load would.
  document.addEventListener("htmx:afterSettle", function (event) {
    var root = event.detail.elt || document;
    var message = root.querySelector("[data-carnet-focus]");
    if (message) { message.focus(); return; }
    var error = root.querySelector("[data-carnet-focus-field]");
    if (error) {
      var field = document.getElementById(error.getAttribute("data-carnet-focus-field"));
      if (field) { field.focus(); }
    }
  });
})();
