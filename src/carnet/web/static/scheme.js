// Applies the saved DSFR colour scheme before the page paints (no flash of the light theme).
// An external file rather than the DSFR's inline snippet: the CSP forbids inline scripts.
(function () {
  var root = document.documentElement;
  var saved = null;
  try { saved = window.localStorage.getItem("scheme"); } catch (e) { saved = null; }
  var scheme = saved || root.getAttribute("data-fr-scheme");
  var dark = scheme === "dark" ||
    (scheme === "system" && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  if (dark) { root.setAttribute("data-fr-theme", "dark"); }
})();
