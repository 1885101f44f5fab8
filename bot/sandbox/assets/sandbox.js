// The sandbox page: polls /sandbox/api/state and turns clicks into the sandbox's API calls,
// which the server sends on to the bot as signed Slack payloads. All HTML comes from the
// server already escaped; names and counts set here go through textContent.
"use strict";

const S = {
  channel: null, home: false, version: null, modalKey: null, networksSet: false,
  shownHtml: null, shownView: null, confirming: null, asked: 0, painted: 0,
};
const $ = (sel) => document.querySelector(sel);
let pollTimer = null;

function say(text, isError) {
  const el = $("#status");
  el.textContent = text || "";
  el.className = isError ? "error" : "";
}

async function api(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try { data = await resp.json(); } catch (_) { /* an empty answer */ }
  if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data;
}

async function act(path, body) {
  say("Working…");
  try {
    const data = await api(path, body);
    say("");
    return data;
  } catch (err) {
    say(err.message, true);
    throw err;
  } finally {
    soon();
  }
}

function soon() {
  for (const delay of [60, 300, 900]) setTimeout(refresh, delay);
}

async function refresh() {
  // Polls and post-action refreshes overlap: never let an older answer paint over a newer one.
  const seq = ++S.asked;
  const query = new URLSearchParams();
  if (S.channel) query.set("channel", S.channel);
  if (S.home) query.set("home", "1");
  try {
    const resp = await fetch(`/sandbox/api/state?${query}`);
    const state = await resp.json();
    if (seq < S.painted) return;
    S.painted = seq;
    render(state);
  } catch (err) {
    say(`Cannot reach the sandbox server (${err.message}). Is threadline still running?`, true);
  }
}

function poll() {
  refresh().finally(() => { pollTimer = setTimeout(poll, 700); });
}

function renderSidebar(state) {
  const list = $("#channels");
  list.replaceChildren();
  for (const row of state.sidebar) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#";
    a.dataset.channelId = row.id;
    a.textContent = (row.dm ? "💬 " : "# ") + row.name;
    if (!S.home && row.id === state.channel) a.className = "active";
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = row.count ? String(row.count) : "";
    a.append(count);
    li.append(a);
    list.append(li);
  }
  $("#home-link").className = S.home ? "active" : "";
  $("#me").textContent = `You are @${state.user.name}`;
  const row = state.sidebar.find((r) => r.id === state.channel);
  $("#channel-name").textContent = S.home ? "🏠 Threadline · Home" :
    row ? (row.dm ? "💬 " : "#") + row.name : "";
}

function keepDrafts(container, html, switched) {
  // Re-rendering must not throw away a half-typed thread reply.
  const drafts = {};
  let focused = null;
  for (const input of container.querySelectorAll(".thread-reply input")) {
    const key = input.closest(".thread").dataset.thread;
    if (input.value) drafts[key] = input.value;
    if (input === document.activeElement) focused = key;
  }
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  const top = container.scrollTop;
  container.innerHTML = html;
  for (const input of container.querySelectorAll(".thread-reply input")) {
    const key = input.closest(".thread").dataset.thread;
    if (drafts[key]) input.value = drafts[key];
    if (focused === key) input.focus();
  }
  container.scrollTop = atBottom || switched ? container.scrollHeight : top;
}

function renderModal(modal) {
  const backdrop = $("#modal-backdrop");
  if (!modal) {
    backdrop.hidden = true;
    S.modalKey = null;
    return;
  }
  if (modal.key === S.modalKey) return;
  S.modalKey = modal.key;
  const box = $("#modal");
  const sameView = box.dataset.viewId === modal.id && !backdrop.hidden;
  const typed = sameView ? collectForm(box) : {};
  box.dataset.viewId = modal.id;
  box.innerHTML = modal.html;
  backdrop.hidden = false;
  if (sameView) restoreForm(box, typed);  // errors shown: keep what the person typed
  const first = box.querySelector("textarea, input, select");
  if (first && !sameView) first.focus();
}

function restoreForm(root, form) {
  for (const el of root.querySelectorAll("[data-action-id]")) {
    const entry = (form[el.dataset.blockId] || {})[el.dataset.actionId];
    if (!entry || el.tagName === "BUTTON") continue;
    if (el.classList.contains("bk-choices")) {
      const wanted = entry.values || (entry.value ? [entry.value] : []);
      for (const box of el.querySelectorAll("input")) box.checked = wanted.includes(box.value);
    } else if (entry.value !== null && entry.value !== undefined) {
      el.value = entry.value;
    }
  }
}

function renderCustomer(state) {
  if (!S.networksSet) {
    const select = $("#network");
    for (const name of state.networks) {
      const opt = document.createElement("option");
      opt.value = name;
      opt.textContent = name;
      select.append(opt);
    }
    S.networksSet = true;
  }
  const threads = $("#thread-select");
  const chosen = threads.value;
  threads.replaceChildren(new Option("New conversation", ""));
  for (const t of state.customer.threads) {
    threads.append(new Option(`Continue: ${t.name} (${t.network})`, t.thread));
  }
  threads.value = chosen;
  $("#feed").innerHTML = state.customer.feed_html;
  const sample = state.customer.sample || {};
  let text = "";
  if (sample.state === "playing") text = `Playing the sample day: ${sample.posted}/${sample.total}…`;
  if (sample.state === "done") {
    text = `Sample day played: ${sample.new} new of ${sample.total} messages`;
    if (sample.new < sample.total) text += " (the rest were already here: --reset starts fresh)";
  }
  $("#sample-status").textContent = text;
}

function render(state) {
  if (state.version === S.version) return;
  S.version = state.version;
  S.channel = state.channel;
  renderSidebar(state);
  const main = $("#messages");
  const html = S.home ? (state.home_html ||
    '<div class="empty">Opening the Home tab…</div>') : state.messages_html;
  const view = S.home ? "home" : state.channel;
  if (S.shownHtml !== html) {
    keepDrafts(main, html, S.shownView !== view);
    S.shownHtml = html;
    S.shownView = view;
  }
  renderModal(state.modal);
  renderCustomer(state);
}

function collectForm(root) {
  const form = {};
  for (const el of root.querySelectorAll("[data-action-id]")) {
    if (el.tagName === "BUTTON") continue;
    const block = el.dataset.blockId;
    const action = el.dataset.actionId;
    const entry = { type: el.dataset.type };
    if (el.classList.contains("bk-choices")) {
      const ticked = [...el.querySelectorAll("input:checked")].map((i) => i.value);
      if (el.dataset.type === "radio_buttons") entry.value = ticked[0] || null;
      else entry.values = ticked;
    } else {
      entry.value = el.value || null;
    }
    (form[block] = form[block] || {})[action] = entry;
  }
  return form;
}

function askFirst(el, go) {
  // Block Kit's confirm object: Slack asks before it sends the click.
  $("#confirm-title").textContent = el.dataset.confirmTitle;
  $("#confirm-text").textContent = el.dataset.confirmText.replace(/[*_~]/g, "");
  $("#confirm-yes").textContent = el.dataset.confirmYes;
  $("#confirm-no").textContent = el.dataset.confirmNo;
  S.confirming = go;
  $("#confirm-backdrop").hidden = false;
  $("#confirm-yes").focus();
}

function where(el) {
  const modal = el.closest("#modal");
  if (modal) return { view_id: modal.dataset.viewId, form: collectForm(modal) };
  const msg = el.closest(".msg");
  return {
    channel: msg ? msg.dataset.channel : S.channel,
    ts: msg ? msg.dataset.ts : null,
    ephemeral: msg ? msg.dataset.ephemeral === "1" : false,
  };
}

function fire(el, extra) {
  const body = {
    ...where(el),
    action_id: el.dataset.actionId,
    block_id: el.dataset.blockId,
    type: el.dataset.type,
    ...extra,
  };
  act("/sandbox/api/action", body).catch(() => {});
}

document.addEventListener("click", (event) => {
  const el = event.target.closest("button, a");
  if (!el) return;
  if (el.dataset.channelId) {
    event.preventDefault();
    S.channel = el.dataset.channelId;
    S.home = false;
    S.version = null;
    refresh();
  } else if (el.dataset.home) {
    event.preventDefault();
    S.home = true;
    S.version = null;
    act("/sandbox/api/home").catch(() => {});
  } else if (el.dataset.modal === "submit") {
    const box = $("#modal");
    act("/sandbox/api/submit", { view_id: box.dataset.viewId, form: collectForm(box) })
      .then(() => { S.modalKey = null; }).catch(() => {});
  } else if (el.dataset.modal === "close") {
    act("/sandbox/api/close", { view_id: $("#modal").dataset.viewId }).catch(() => {});
  } else if (el.dataset.react) {
    const msg = el.closest(".msg");
    act("/sandbox/api/react", { channel: msg.dataset.channel, ts: msg.dataset.ts,
      name: el.dataset.react }).catch(() => {});
  } else if (el.dataset.dismiss) {
    act("/sandbox/api/dismiss", { ts: el.closest(".msg").dataset.ts }).catch(() => {});
  } else if (el.dataset.confirmAnswer) {
    const pending = S.confirming;
    S.confirming = null;
    $("#confirm-backdrop").hidden = true;
    if (pending && el.dataset.confirmAnswer === "yes") pending();
  } else if (el.tagName === "BUTTON" && el.dataset.actionId) {
    const go = () => fire(el, { value: el.dataset.value || null });
    if (el.dataset.confirmTitle) askFirst(el, go);
    else go();
  } else if (el.id === "sample-day") {
    act("/sandbox/api/sample-day").catch(() => {});
  }
});

document.addEventListener("change", (event) => {
  const target = event.target;
  const select = target.closest("select[data-action-id][data-live]");
  if (select) {
    if (select.dataset.type === "overflow") {
      const value = select.value;
      select.selectedIndex = 0;
      fire(select, { value });
    } else {
      fire(select, { value: select.value });
    }
    return;
  }
  const choices = target.closest(".bk-choices[data-live]");
  if (choices) {
    const ticked = [...choices.querySelectorAll("input:checked")].map((i) => i.value);
    fire(choices, choices.dataset.type === "radio_buttons" ?
      { value: ticked[0] || null } : { values: ticked });
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  event.preventDefault();
  if (form.id === "command-form") {
    const input = $("#command-input");
    act("/sandbox/api/command", { channel: S.channel, text: input.value })
      .then(() => { input.value = ""; }).catch(() => {});
  } else if (form.classList.contains("thread-reply")) {
    const input = form.querySelector("input");
    const msg = form.closest(".msg");
    act("/sandbox/api/reply", { channel: msg.dataset.channel, ts: msg.dataset.ts, text: input.value })
      .then(() => { input.value = ""; }).catch(() => {});
  } else if (form.id === "customer-form") {
    const fields = Object.fromEntries(new FormData(form).entries());
    $("#customer-error").textContent = "";
    api("/sandbox/api/customer", fields)
      .then(() => { form.elements.text.value = ""; say("Posted as the customer."); })
      .catch((err) => { $("#customer-error").textContent = err.message; })
      .finally(soon);
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("#modal-backdrop").hidden) {
    act("/sandbox/api/close", { view_id: $("#modal").dataset.viewId }).catch(() => {});
  }
});

poll();
