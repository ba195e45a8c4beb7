// Small progressive enhancements; every page works without this file.
// No inline scripts anywhere: the Content-Security-Policy forbids them.
(function () {
  "use strict";
  // <form data-confirm="Remove this patient?"> asks before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    }
  }, true);
  // <button data-print> opens the browser's print dialog.
  document.addEventListener("click", function (event) {
    var el = event.target;
    if (el instanceof HTMLElement && el.closest("[data-print]")) {
      window.print();
    }
  });
  // <select data-autosubmit> submits its form when changed (filters).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el instanceof HTMLSelectElement && el.dataset.autosubmit !== undefined && el.form) {
      if (typeof el.form.requestSubmit === "function") {
        el.form.requestSubmit();
      } else {
        el.form.submit();
      }
    }
  });
})();
