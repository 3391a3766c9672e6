// The tenant box of the changelist's filters: choosing a tenant applies it.
(function () {
  "use strict";
  function submitOnChoice() {
    var $ = window.django && window.django.jQuery;
    if (!$) { return; }
    $("#tenant-filter select").on("change", function () { this.form.submit(); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", submitOnChoice);
  } else {
    submitOnChoice();
  }
})();
