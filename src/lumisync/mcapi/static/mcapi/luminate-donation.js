/*
 * SMS opt-in for Luminate Online donation forms, and the gift report from their thank-you pages.
 *
 * Form page: window.lumisyncDonationForm = {endpoint, snippetKey, optInPath, checkboxId, consentWording,
 * formMap}. When the donor submits with the SMS box ticked, the mapped values are sent to the platform
 * in the background (sendBeacon, else a keepalive fetch with a short timeout) and the donation goes on
 * untouched: nothing here ever cancels, delays or throws into the submit.
 *
 * Thank-you page: window.lumisyncDonationReceipt = {endpoint, snippetKey, giftMap}. Luminate shows it only
 * for a completed gift, so a declined payment reports nothing; the donor's number and billing address
 * come from the form page of the same visit (sessionStorage), only when they ticked the box.
 */
(function () {
  "use strict";

  var STASH = "lumisync.donation";
  var TIMEOUT_MS = 3000;
  var BILLING = {
    profile_street1: "street1",
    profile_street2: "street2",
    profile_city: "city",
    profile_state: "state",
    profile_postal_code: "postal_code",
    profile_country: "country"
  };

  function readElement(id) {
    var element = id ? document.getElementById(id) : null;
    if (!element) {
      return "";
    }
    if ("value" in element && element.tagName !== "LI" && element.tagName !== "BUTTON") {
      if ((element.type === "checkbox" || element.type === "radio") && !element.checked) {
        return "";
      }
      return String(element.value || "").trim();
    }
    return String(element.textContent || "").trim();
  }

  function post(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (name) {
      if (fields[name]) {
        body.append(name, fields[name]);
      }
    });
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(url, body)) {
        return;
      }
    } catch (ignored) {
      // Fall through to fetch.
    }
    try {
      var controller = window.AbortController ? new AbortController() : null;
      var options = { method: "POST", body: body, keepalive: true, mode: "no-cors", credentials: "omit" };
      if (controller) {
        options.signal = controller.signal;
        setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
      }
      window.fetch(url, options).catch(function () {});
    } catch (ignored) {
      // The platform is unreachable or the browser too old: the donation matters more.
    }
  }

  function stash(value) {
    try {
      window.sessionStorage.setItem(STASH, JSON.stringify(value));
    } catch (ignored) {
      // Storage may be disabled; the gift is then recorded without the donor's number.
    }
  }

  function forget() {
    try {
      window.sessionStorage.removeItem(STASH);
    } catch (ignored) {
      // Storage may be disabled; then nothing was kept either.
    }
  }

  function unstash() {
    try {
      var raw = window.sessionStorage.getItem(STASH);
      window.sessionStorage.removeItem(STASH);
      return raw ? JSON.parse(raw) : null;
    } catch (ignored) {
      return null;
    }
  }

  function onSubmit(config) {
    // Only the last submit counts: what an earlier, declined attempt kept must not report this gift.
    forget();
    var box = document.getElementById(config.checkboxId);
    if (!box || !box.checked) {
      return;
    }
    var map = config.formMap || {};
    var fields = {
      "opt_in_path[]": config.optInPath,
      snippet_key: config.snippetKey,
      consent_wording: config.consentWording
    };
    var billing = {};
    Object.keys(map).forEach(function (name) {
      var value = readElement(map[name]);
      var field = name === "phone" ? "phone" : name.replace(/^profile_/, "");
      fields["person[" + field + "]"] = value;
      if (BILLING[name]) {
        billing[BILLING[name]] = value;
      }
    });
    if (!fields["person[phone]"]) {
      return;
    }
    stash({ phone: fields["person[phone]"], email: fields["person[email]"] || "", billing: billing });
    post(config.endpoint, fields);
  }

  function bindForm(config) {
    var box = document.getElementById(config.checkboxId);
    var form = (box && box.form) || document.forms[0];
    if (!form) {
      return;
    }
    form.addEventListener("submit", function () {
      try {
        onSubmit(config);
      } catch (ignored) {
        // Never let the opt-in stand between the donor and the donation.
      }
    }, true);
  }

  function reportGift(config) {
    var map = config.giftMap || {};
    var transactionId = readElement(map.transaction_id);
    var visit = unstash();
    if (!transactionId || !visit) {
      return;
    }
    var fields = {
      snippet_key: config.snippetKey,
      transaction_id: transactionId,
      amount: readElement(map.amount),
      form_id: readElement(map.form_id),
      level_id: readElement(map.level_id),
      donor_email: visit.email,
      phone: visit.phone
    };
    Object.keys(visit.billing || {}).forEach(function (key) {
      fields["billing[" + key + "]"] = visit.billing[key];
    });
    post(config.endpoint, fields);
  }

  function start() {
    try {
      if (window.lumisyncDonationForm) {
        bindForm(window.lumisyncDonationForm);
      }
      if (window.lumisyncDonationReceipt) {
        reportGift(window.lumisyncDonationReceipt);
      }
    } catch (ignored) {
      // A broken configuration must not break the page.
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
