// The Personio integration page. Plain JavaScript, no build step.
// Rules: every request is same-origin with the session cookie; every POST/PUT carries the
// session's CSRF token; nothing the server (or Kombo, or Learn Amp) sends is ever put into
// innerHTML: text goes in with textContent only.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    csrf: null,
    status: null,
    settings: null,
    fields: null, // Personio custom fields from Kombo, or null when they can't be read
    kombo: null, // {origin, relink} while the connection overlay is open
    lastFocus: null,
    importing: null, // {baseline} after "Import all" until the new run is in last_runs
    pollTimer: null,
  };

  // ---- talking to the admin API -------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && typeof body.error === "string" && body.error) || defaultError(status));
      this.status = status;
      this.body = body || {};
    }
  }

  function defaultError(status) {
    if (status === 401) return "Your session has ended. Open the integration again from Learn Amp.";
    if (status === 403) return "This action isn't allowed. Reload the page and try again.";
    if (status >= 500) return "Something went wrong on our side. Please try again in a minute.";
    return "That didn't work. Please check and try again.";
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const init = { method, credentials: "same-origin", headers, cache: "no-store" };
    if (method !== "GET") {
      headers["X-CSRF-Token"] = state.csrf || "";
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, { error: "We couldn't reach the server. Check your connection and try again." });
    }
    let json = null;
    try {
      json = await response.json();
    } catch (e) {
      json = null;
    }
    if (response.status === 401) signedOut();
    if (!response.ok) throw new ApiError(response.status, json);
    return json || {};
  }

  // ---- announcements ------------------------------------------------------------------------

  function announce(text) {
    $("progress").textContent = text;
  }

  function showError(text) {
    const alert = $("alert");
    alert.textContent = text;
    alert.hidden = !text;
  }

  function clearError() {
    showError("");
  }

  function reportError(e) {
    showError(e instanceof Error ? e.message : String(e));
  }

  function signedOut() {
    stopPolling();
    $("app").hidden = true;
    $("signed-out").hidden = false;
  }

  // Runs an action from a button: disables it meanwhile and reports a failure in the alert.
  async function busy(button, action) {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    clearError();
    try {
      await action();
    } catch (e) {
      reportError(e);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      refreshImportButton();
    }
  }

  // ---- small DOM helpers (text only) --------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  // ---- connection ---------------------------------------------------------------------------

  function describeConnection(c) {
    if (!c || c.state === "not_connected") {
      return { text: "Personio isn't connected yet.", cls: "", detail: "" };
    }
    const managed = c.state === "operator_managed";
    const intro = managed ? "Personio was connected for you by our team." : "Personio is connected.";
    if (c.status === "INVALID") {
      return {
        text: "The connection to Personio has stopped working.",
        cls: "bad",
        detail: "This happens when the Personio API key is revoked or its access changes. " +
          "Reconnect to continue; nobody is deactivated meanwhile.",
      };
    }
    if (c.status === "INACTIVE") {
      return { text: "The connection to Personio is paused in Kombo.", cls: "warn", detail: "" };
    }
    switch (c.setup_status) {
      case "INCOMPLETE":
        return {
          text: intro + " Kombo is still setting it up.",
          cls: "warn",
          detail: "Kombo is waiting for the Personio setup to be finished; the first import can start when it's done.",
        };
      case "FINAL_SYNC_PENDING":
        return {
          text: intro + " Kombo is copying your Personio data.",
          cls: "warn",
          detail: "Kombo is copying your Personio data; the first import can start when it's done.",
        };
      default:
        return { text: intro + " Everything is ready.", cls: "ok", detail: "" };
    }
  }

  function renderConnection(c) {
    const d = describeConnection(c);
    const status = $("connection-status");
    status.textContent = d.text;
    status.className = "status " + d.cls;
    $("connection-detail").textContent = d.detail;
    const connected = c && c.state !== "not_connected";
    $("connect-form").hidden = connected;
    $("reconnect").hidden = !(connected && c.status === "INVALID");
    $("disconnect").hidden = !(c && c.state === "connected");
  }

  function openKombo(link, relink) {
    let origin;
    try {
      origin = new URL(link).origin;
    } catch (e) {
      throw new Error("Kombo sent a link we can't open. Please try again.");
    }
    state.kombo = { origin, relink };
    state.lastFocus = document.activeElement;
    $("kombo-frame").src = link;
    $("kombo-overlay").hidden = false;
    for (const id of ["main", "progress", "alert"]) $(id).inert = true;
    document.querySelector(".top").inert = true;
    $("kombo-close").focus();
    announce("Kombo's connection form is open.");
  }

  function closeKombo() {
    state.kombo = null;
    $("kombo-overlay").hidden = true;
    $("kombo-frame").src = "about:blank";
    for (const id of ["main", "progress", "alert"]) $(id).inert = false;
    document.querySelector(".top").inert = false;
    const back = state.lastFocus && document.contains(state.lastFocus) ? state.lastFocus : $("connection-status");
    if (back === $("connection-status")) back.tabIndex = -1;
    back.focus();
  }

  // Kombo's connection form (in the iframe) reports success or cancel with postMessage; only a
  // message from the link's own origin and from that very frame is believed.
  async function onKomboMessage(event) {
    const open = state.kombo;
    if (!open || event.origin !== open.origin) return;
    if (event.source !== $("kombo-frame").contentWindow) return;
    const data = event.data;
    if (!data || typeof data !== "object") return;
    if (data.type === "kombo-connect:cancel") {
      closeKombo();
      announce("Connecting was cancelled. Nothing has changed.");
      return;
    }
    if (data.type !== "kombo-connect:success" || typeof data.token !== "string" || !data.token) return;
    closeKombo();
    announce("Finishing the connection…");
    clearError();
    try {
      const result = await api("POST", "/api/connect/complete", { token: data.token });
      if (result.connection && state.status) state.status.connection = result.connection;
      announce("Personio is connected.");
    } catch (e) {
      announce("");
      reportError(e);
      if (e.body && e.body.relink === true) $("reconnect").hidden = false;
    }
    await refreshStatus();
    loadCustomFields();
  }

  async function connect(event) {
    event.preventDefault();
    await busy($("connect"), async () => {
      announce("Opening Kombo's connection form…");
      // Kombo's form speaks these; anything else gets English.
      const browser = (navigator.language || "en").slice(0, 2).toLowerCase();
      const language = ["en", "de", "fr", "it", "es"].includes(browser) ? browser : "en";
      const { link } = await api("POST", "/api/connect/link", {
        email: $("connect-email").value.trim(),
        organization_name: $("connect-org").value.trim(),
        language,
      });
      openKombo(link, false);
    });
  }

  async function reconnect() {
    await busy($("reconnect"), async () => {
      announce("Opening Kombo's connection form…");
      const { link } = await api("POST", "/api/connect/relink");
      openKombo(link, true);
    });
  }

  async function disconnect() {
    const ok = window.confirm(
      "Disconnect Personio? Syncing stops until you connect again and start an import. Users already in Learn Amp stay as they are."
    );
    if (!ok) return;
    await busy($("disconnect"), async () => {
      await api("POST", "/api/connect/disconnect");
      announce("Personio is disconnected.");
      await refreshStatus();
    });
  }

  // ---- Learn Amp credentials ----------------------------------------------------------------

  function renderLearnAmp(la) {
    const status = $("learnamp-status");
    if (la && la.configured) {
      status.textContent = "Saved. Learn Amp accepted these credentials" +
        (la.client_id ? " (client ID " + la.client_id + ")." : ".");
      status.className = "status ok";
      const url = $("la-base-url");
      const id = $("la-client-id");
      if (!url.value && la.base_url) url.value = la.base_url;
      if (!id.value && la.client_id) id.value = la.client_id;
    } else {
      status.textContent = "Not saved yet.";
      status.className = "status";
    }
  }

  async function saveLearnAmp(event) {
    event.preventDefault();
    await busy($("save-learnamp"), async () => {
      announce("Checking the credentials with Learn Amp…");
      const secret = $("la-client-secret");
      try {
        const result = await api("PUT", "/api/learnamp", {
          base_url: $("la-base-url").value.trim(),
          client_id: $("la-client-id").value.trim(),
          client_secret: secret.value,
        });
        renderLearnAmp(result.learnamp);
        announce("Learn Amp credentials saved.");
        await refreshStatus();
      } catch (e) {
        announce("");
        throw e;
      } finally {
        secret.value = "";
      }
    });
  }

  // ---- settings -----------------------------------------------------------------------------

  const csv = (s) => s.split(",").map((v) => v.trim()).filter(Boolean);

  function fillTimeZones() {
    const list = $("time-zones");
    if (list.childElementCount || typeof Intl.supportedValuesOf !== "function") return;
    for (const zone of Intl.supportedValuesOf("timeZone")) {
      const option = document.createElement("option");
      option.value = zone;
      list.appendChild(option);
    }
  }

  function customFieldRow(mapping) {
    const li = document.createElement("li");
    const n = document.querySelectorAll("#custom-fields li").length + 1;
    const sourceId = "cf-source-" + n + "-" + Date.now();
    const targetId = "cf-target-" + n + "-" + Date.now();

    const sourceWrap = el("div");
    const sourceLabel = el("label", null, "Personio field");
    sourceLabel.htmlFor = sourceId;
    let source;
    if (state.fields && state.fields.length) {
      source = document.createElement("select");
      source.appendChild(new Option("Choose a field", ""));
      for (const f of state.fields) source.appendChild(new Option(f.label || f.key, f.key));
      if (mapping.source && !state.fields.some((f) => f.key === mapping.source)) {
        source.appendChild(new Option(mapping.source, mapping.source));
      }
    } else {
      source = document.createElement("input");
      source.type = "text";
      source.autocomplete = "off";
    }
    source.id = sourceId;
    source.className = "cf-source";
    source.value = mapping.source || "";
    sourceWrap.append(sourceLabel, source);

    const targetWrap = el("div");
    const targetLabel = el("label", null, "Learn Amp custom field");
    targetLabel.htmlFor = targetId;
    const target = document.createElement("input");
    target.type = "text";
    target.id = targetId;
    target.className = "cf-target";
    target.autocomplete = "off";
    target.value = mapping.target || "";
    targetWrap.append(targetLabel, target);

    const remove = el("button", null, "Remove");
    remove.type = "button";
    remove.setAttribute("aria-label", "Remove this custom field");
    remove.addEventListener("click", () => {
      li.remove();
      $("add-custom-field").focus();
    });
    li.append(sourceWrap, targetWrap, remove);
    return li;
  }

  function renderSettings(s) {
    state.settings = s;
    for (const radio of document.querySelectorAll('input[name="invite_policy"]')) {
      radio.checked = radio.value === s.invite_policy;
    }
    for (const radio of document.querySelectorAll('input[name="deactivate_on"]')) {
      radio.checked = radio.value === (s.deactivate_on || "day_after_termination");
    }
    $("time-zone").value = s.time_zone || "";
    $("sync-location").checked = !!(s.location && s.location.sync);
    const rows = $("custom-fields");
    clear(rows);
    for (const m of s.custom_fields || []) {
      rows.appendChild(customFieldRow({ source: m.personio_key, target: m.learnamp_field }));
    }
    const scope = s.scope || {};
    $("scope-legal-entities").value = (scope.legal_entity_ids || []).join(", ");
    $("scope-employment-types").value = (scope.employment_types || []).join(", ");
    $("scope-groups").value = (scope.group_ids || []).join(", ");
    const guard = s.deactivation_guard || {};
    $("guard-percent").value = guard.max_percent ?? "";
    $("guard-count").value = guard.max_count ?? "";
  }

  // The whole object, as PUT /api/settings takes it (the API refuses unknown fields).
  function readSettings() {
    const saved = state.settings || {};
    const policy = document.querySelector('input[name="invite_policy"]:checked');
    const leaver = document.querySelector('input[name="deactivate_on"]:checked');
    const custom = [];
    for (const li of document.querySelectorAll("#custom-fields li")) {
      const source = li.querySelector(".cf-source").value.trim();
      const target = li.querySelector(".cf-target").value.trim();
      if (source || target) custom.push({ personio_key: source, learnamp_field: target });
    }
    const percent = $("guard-percent").value;
    const count = $("guard-count").value;
    const savedGuard = saved.deactivation_guard || {};
    return {
      invite_policy: policy ? policy.value : saved.invite_policy,
      time_zone: $("time-zone").value.trim(),
      deactivate_on: leaver ? leaver.value : saved.deactivate_on || "day_after_termination",
      location: { sync: $("sync-location").checked },
      custom_fields: custom,
      scope: {
        legal_entity_ids: csv($("scope-legal-entities").value),
        employment_types: csv($("scope-employment-types").value),
        group_ids: csv($("scope-groups").value),
      },
      deactivation_guard: {
        max_percent: percent === "" ? savedGuard.max_percent ?? 20 : Number(percent),
        max_count: count === "" ? null : Number(count),
      },
    };
  }

  async function loadSettings() {
    renderSettings(await api("GET", "/api/settings"));
  }

  async function loadCustomFields() {
    try {
      const result = await api("GET", "/api/custom-fields");
      state.fields = Array.isArray(result.fields) ? result.fields : [];
    } catch (e) {
      state.fields = null; // not connected yet: the key is typed instead of chosen
    }
    if (state.settings) {
      // Re-render the rows with what the admin has typed so far.
      renderSettings(Object.assign({}, state.settings, { custom_fields: readSettings().custom_fields }));
    }
  }

  async function saveSettings(event) {
    event.preventDefault();
    $("settings-saved").hidden = true;
    await busy($("save-settings"), async () => {
      renderSettings(await api("PUT", "/api/settings", readSettings()));
      $("settings-saved").hidden = false;
      announce("Settings saved.");
    });
  }

  // ---- preview ------------------------------------------------------------------------------

  const COUNT_WORDS = {
    create: "to create", invite: "to invite", update: "to update", deactivate: "to deactivate",
    reactivate: "to reactivate", adopt: "to link", defer: "waiting", unchanged: "unchanged",
    failed: "can't be synced",
    created: "created", invited: "invited", updated: "updated", deactivated: "deactivated",
    reactivated: "reactivated", adopted: "linked", deferred: "waiting", skipped: "skipped",
  };

  const ACTION_WORDS = {
    create: "will be created", update: "will be updated", deactivate: "will be deactivated",
    reactivate: "will be reactivated", adopt: "will be linked to their existing user",
    defer: "waits", unchanged: "stays as it is", failed: "can't be synced",
  };
  const ACTION_ORDER = ["create", "reactivate", "adopt", "update", "deactivate", "defer", "failed"];
  const PREVIEW_LIMIT = 300;

  // The API's JSON objects come in any order; the page shows the counts in this one.
  const COUNT_ORDER = [
    "create", "created", "invite", "invited", "adopt", "adopted", "update", "updated",
    "deactivate", "deactivated", "reactivate", "reactivated", "defer", "deferred", "failed", "unchanged",
  ];

  function ordered(counts) {
    const rank = (k) => {
      const i = COUNT_ORDER.indexOf(k);
      return i < 0 ? COUNT_ORDER.length : i;
    };
    return Object.entries(counts || {}).sort((a, b) => rank(a[0]) - rank(b[0]));
  }

  function renderCounts(list, counts) {
    clear(list);
    for (const [key, value] of ordered(counts)) {
      if (typeof value !== "number") continue;
      const li = el("li");
      li.dataset.count = key;
      li.append(el("strong", null, value), el("span", null, COUNT_WORDS[key] || key.replace(/_/g, " ")));
      list.appendChild(li);
    }
  }

  function who(item) {
    const name = item.name || "";
    const email = item.email || "";
    if (name && email) return name + " (" + email + ")";
    return name || email || "Personio employee " + item.employee_id;
  }

  function renderPreview(result) {
    renderCounts($("preview-counts"), result.counts);
    const list = $("preview-items");
    clear(list);
    const rank = (a) => {
      const i = ACTION_ORDER.indexOf(a);
      return i < 0 ? ACTION_ORDER.length : i;
    };
    const items = (result.items || [])
      .filter((i) => i.action !== "unchanged")
      .sort((a, b) => rank(a.action) - rank(b.action));
    for (const item of items.slice(0, PREVIEW_LIMIT)) {
      const li = el("li");
      li.dataset.action = item.action;
      let what = ACTION_WORDS[item.action] || String(item.action).replace(/_/g, " ");
      if (item.invite === true) what += " and invited";
      else if (item.action === "create") what += ", not invited yet";
      li.append(el("span", "what", what), el("span", "who", who(item)));
      if (item.reason) li.appendChild(el("span", "why", item.reason));
      list.appendChild(li);
    }
    if (items.length > PREVIEW_LIMIT) {
      list.appendChild(el("li", "more", "…and " + (items.length - PREVIEW_LIMIT) + " more."));
    }
    if (result.truncated) {
      list.appendChild(el("li", "more", "Only the first part of the list is shown; the counts above are complete."));
    }
    if (!items.length) list.appendChild(el("li", "more", "Nothing to change: Learn Amp is already up to date."));
    const halted = $("preview-halted");
    halted.textContent = result.halted
      ? "The safety net would hold back this import's deactivations: " + result.halted
      : "";
    halted.hidden = !result.halted;
    $("preview-result").hidden = false;
  }

  async function preview() {
    await busy($("run-preview"), async () => {
      announce("Working out what the import would do… Nothing is changed.");
      try {
        const result = await api("POST", "/api/preview");
        renderPreview(result);
        const c = result.counts || {};
        announce("Preview ready: " + plural(c.create || 0, "person", "people") + " to create, " +
          (c.invite || 0) + " to invite, " + (c.update || 0) + " to update, " +
          (c.deactivate || 0) + " to deactivate, " + (c.defer || 0) + " waiting.");
      } catch (e) {
        announce("");
        throw e;
      }
    });
  }

  // ---- import and status --------------------------------------------------------------------

  function notReadyReason(s) {
    if (!s || s.ready_to_import) return "";
    if (s.not_ready_reason) return s.not_ready_reason;
    const c = s.connection || {};
    if (!c.state || c.state === "not_connected") return "Connect Personio first.";
    if (c.status === "INVALID") return "Reconnect Personio first.";
    if (!(s.learnamp && s.learnamp.configured)) return "Save your Learn Amp API credentials first.";
    if (c.setup_status && c.setup_status !== "COMPLETED") {
      return "Kombo is copying your Personio data; the first import can start when it's done.";
    }
    return "The import isn't ready yet.";
  }

  function refreshImportButton() {
    const s = state.status;
    const reason = notReadyReason(s);
    const running = !!(s && s.run_in_progress) || !!state.importing;
    $("import-all").disabled = !!reason || running;
    $("run-preview").disabled = !(s && s.ready_to_import);
    const first = s && !s.first_import_started;
    $("import-hint").textContent = running ? "An import is running." : reason || (first
      ? "Nothing is written to Learn Amp until you press Import all from Personio: preview it first. After that, it keeps Learn Amp in step with Personio by itself."
      : "Creates, updates and deactivates users to match Personio. It also runs by itself every few hours.");
  }

  function runSummary(counts) {
    const parts = [];
    for (const [key, value] of ordered(counts)) {
      if (typeof value === "number" && value > 0 && key !== "unchanged") {
        parts.push(value + " " + (COUNT_WORDS[key] || key.replace(/_/g, " ")));
      }
    }
    return parts.length ? parts.join(", ") : "no changes";
  }

  const KIND_WORDS = { full: "Full import", delta: "Changes only", dry_run: "Preview", reconcile: "Check and repair" };
  const OUTCOME_WORDS = {
    succeeded: "Done", completed_with_errors: "Done, with errors", applying: "Updating Learn Amp",
    halted: "Done, deactivations held back by the safety net", stopped: "Stopped before the end",
  };

  function renderRuns(runs) {
    const table = $("runs-table");
    const body = table.tBodies[0];
    clear(body);
    for (const run of runs || []) {
      const tr = document.createElement("tr");
      tr.append(
        el("td", null, when(run.started_at)),
        el("td", null, KIND_WORDS[run.kind] || run.kind),
        el("td", null, OUTCOME_WORDS[run.outcome] || run.outcome),
        el("td", null, runSummary(run.counts))
      );
      body.appendChild(tr);
    }
    table.hidden = !(runs && runs.length);
    $("runs-empty").hidden = !!(runs && runs.length);
  }

  function renderErrors(errors) {
    const list = $("errors-list");
    clear(list);
    for (const e of errors || []) {
      const li = el("li");
      li.append(el("span", "who", who(e)), el("span", "why", e.message));
      if (e.at) li.appendChild(el("span", "why", when(e.at)));
      list.appendChild(li);
    }
    $("errors-empty").hidden = !!(errors && errors.length);
  }

  function runKey(run) {
    return run ? run.started_at + "|" + run.kind : "";
  }

  const PHASE_WORDS = {
    queued: "Waiting to start", reading: "Reading Personio", applying: "Updating Learn Amp",
  };

  function renderProgress(s) {
    const run = s.run_in_progress;
    const box = $("import-progress");
    if (run) {
      box.hidden = false;
      const bar = $("import-bar");
      const text = (PHASE_WORDS[run.phase] || "Importing") + ": ";
      if (run.total) {
        bar.max = run.total;
        bar.value = run.done || 0;
        $("import-progress-text").textContent = text + (run.done || 0) + " of " + run.total + " people";
      } else {
        bar.removeAttribute("value");
        $("import-progress-text").textContent = text + "this can take a few minutes…";
      }
      announce($("import-progress-text").textContent + ".");
      return;
    }
    box.hidden = true;
    if (!state.importing) return;
    const latest = (s.last_runs || []).find((r) => r.kind !== "dry_run");
    if (latest && runKey(latest) !== state.importing.baseline && latest.outcome !== "applying") {
      state.importing = null;
      const failed = (latest.counts && latest.counts.failed) || 0;
      const text = "Import finished: " + runSummary(latest.counts) + "." +
        (failed ? " See the people we couldn't sync below." : "") +
        (latest.halted ? " Deactivations were held back: " + latest.halted : "");
      $("import-done-text").textContent = text;
      $("import-done-text").className = "status " + (failed ? "warn" : "ok");
      renderCounts($("import-counts"), latest.counts);
      $("import-done").hidden = false;
      announce(text);
    }
  }

  function renderStatus(s) {
    state.status = s;
    renderConnection(s.connection);
    renderLearnAmp(s.learnamp);
    renderRuns(s.last_runs);
    renderErrors(s.errors);
    renderProgress(s);
    refreshImportButton();
  }

  async function refreshStatus() {
    renderStatus(await api("GET", "/api/status"));
    schedulePoll();
  }

  // Polls while something is moving: an import, or Kombo's first copy of the Personio data.
  function schedulePoll() {
    stopPolling();
    const s = state.status;
    if (!s) return;
    const c = s.connection || {};
    const settingUp = c.state && c.state !== "not_connected" && c.setup_status && c.setup_status !== "COMPLETED";
    const moving = s.run_in_progress || state.importing;
    if (!moving && !settingUp) return;
    state.pollTimer = setTimeout(async () => {
      try {
        await refreshStatus();
      } catch (e) {
        reportError(e);
      }
    }, moving ? 1000 : 3000);
  }

  function stopPolling() {
    if (state.pollTimer) clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  async function importAll() {
    await busy($("import-all"), async () => {
      $("import-done").hidden = true;
      const latest = ((state.status && state.status.last_runs) || []).find((r) => r.kind !== "dry_run");
      await api("POST", "/api/import");
      state.importing = { baseline: runKey(latest) };
      announce("Import started. You can leave this page; it carries on.");
      await refreshStatus();
    });
  }

  // ---- start --------------------------------------------------------------------------------

  async function start() {
    $("connect-form").addEventListener("submit", connect);
    $("reconnect").addEventListener("click", reconnect);
    $("disconnect").addEventListener("click", disconnect);
    $("learnamp-form").addEventListener("submit", saveLearnAmp);
    $("settings-form").addEventListener("submit", saveSettings);
    $("settings-form").addEventListener("input", () => { $("settings-saved").hidden = true; });
    $("add-custom-field").addEventListener("click", () => {
      const row = customFieldRow({});
      $("custom-fields").appendChild(row);
      row.querySelector(".cf-source").focus();
    });
    $("run-preview").addEventListener("click", preview);
    $("import-all").addEventListener("click", importAll);
    $("kombo-close").addEventListener("click", () => {
      closeKombo();
      announce("Connecting was cancelled. Nothing has changed.");
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && state.kombo) $("kombo-close").click();
    });
    window.addEventListener("message", onKomboMessage);
    fillTimeZones();

    try {
      const session = await api("GET", "/api/session");
      state.csrf = session.csrf_token;
    } catch (e) {
      if (e.status !== 401) reportError(e);
      signedOut();
      return;
    }
    $("app").hidden = false;
    try {
      await refreshStatus();
      await loadSettings();
      await loadCustomFields();
      document.body.dataset.ready = "true";
    } catch (e) {
      reportError(e);
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
