// The minimal hearlers web client (issue 11): plain JavaScript against the gateway's one
// origin. Reads and writes are the REST APIs (SPEC §2, §3); live updates are EventSource
// streams (SPEC §8) authenticated with ?access_token= (EventSource cannot set headers).
"use strict";
const $ = (id) => document.getElementById(id);
let token = null, me = null, room = null, roomStream = null;

async function api(method, path, body) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new Error((data && (data.detail || data.title)) || r.status);
  return data;
}

function stream(path, handlers) {
  const sep = path.includes("?") ? "&" : "?";
  const es = new EventSource(path + sep + "access_token=" + encodeURIComponent(token));
  for (const [name, fn] of Object.entries(handlers))
    es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  return es; // EventSource reconnects by itself and sends Last-Event-ID: nothing is missed
}

function text(tag, content, cls) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (cls) el.className = cls;
  return el;
}

// An <img> of a profile's uploaded avatar (128 px rendition, served by the gateway's /media/),
// or an empty placeholder when it has none.
function avatarImg(profile) {
  const img = document.createElement("img");
  img.className = "avatar";
  img.alt = "";
  const url = profile && profile.avatar && profile.avatar.url_128;
  if (url && url.startsWith("/media/")) img.src = url;
  return img;
}

async function showMyAvatar(consistencyToken) {
  const r = await fetch("/v1/users/" + me, consistencyToken ? { headers: { "X-Consistency-Token": consistencyToken } } : {});
  if (r.ok) $("my-avatar").replaceWith(Object.assign(avatarImg(await r.json()), { id: "my-avatar" }));
}

// PUT /v1/users/me/avatar with the file's bytes as the body (the server checks the bytes).
async function uploadAvatar(file) {
  $("avatar-error").textContent = "";
  const r = await fetch("/v1/users/me/avatar", { method: "PUT", body: file,
    headers: { "Authorization": "Bearer " + token, "Content-Type": file.type || "application/octet-stream" } });
  const data = await r.json();
  if (!r.ok) { $("avatar-error").textContent = data.detail || data.title || r.status; return; }
  await showMyAvatar(r.headers.get("X-Consistency-Token"));
}

async function login(email, password) {
  const s = await api("POST", "/v1/sessions", { email, password });
  token = s.token; me = s.user_id;
  $("login").classList.add("hidden");
  for (const id of ["left", "center", "right"]) $(id).classList.remove("hidden");
  $("me").textContent = me;
  showMyAvatar().catch(() => {});
  await loadRooms();
  stream("/v1/notifications/stream", {
    notification: (n) => {
      $("notifications").prepend(text("div", `${n.kind}: ${(n.actor && n.actor.display_name) || ""} ${n.preview || ""}`));
      if (n.kind === "new_message") loadRooms();
    },
  });
  const names = {};
  stream("/v1/friends/presence/stream", {
    snapshot: async (s) => {
      $("friends").replaceChildren();
      for (const f of s.items) {
        let profile = null;
        try { profile = await api("GET", "/v1/users/" + f.user_id); names[f.user_id] = profile.display_name; } catch (e) { names[f.user_id] = f.user_id; }
        const el = text("div", `${names[f.user_id]} (${f.presence})`, f.presence);
        if (f.since) el.title = "since " + f.since;
        el.id = "friend-" + f.user_id;
        $("friends").append(avatarImg(profile), el);
      }
    },
    presence: (p) => {
      const el = $("friend-" + p.user_id);
      if (el) { el.textContent = `${names[p.user_id] || p.user_id} (${p.presence})`; el.className = p.presence; el.title = p.since ? "since " + p.since : ""; }
    },
  });
}

async function loadRooms() {
  const page = await api("GET", "/v1/chat-rooms?limit=50");
  $("rooms").replaceChildren();
  for (const r of page.items) {
    const others = r.members.filter((m) => m.id !== me).map((m) => m.display_name || m.id);
    const el = text("div", (r.title || others.join(", ")) + (r.unread_count ? ` (${r.unread_count})` : ""), "room");
    el.dataset.room = r.room_id;
    if (r.room_id === room) el.classList.add("open");
    el.onclick = () => openRoom(r.room_id, el.textContent);
    $("rooms").append(el);
  }
}

function showMessage(m) {
  if (document.querySelector(`[data-seq="${m.seq}"]`)) return;
  const el = document.createElement("div");
  el.className = "msg"; el.dataset.seq = m.seq;
  el.append(text("b", m.sender_id === me ? "me" : m.sender_id.slice(-4)), document.createTextNode(": " + m.body));
  // in seq order, whether it came from the history page or the stream
  const later = [...$("messages").children].find((c) => Number(c.dataset.seq) > m.seq);
  $("messages").insertBefore(el, later || null);
  $("messages").scrollTop = $("messages").scrollHeight;
}

async function openRoom(id, title) {
  room = id;
  $("room-title").textContent = title;
  $("messages").replaceChildren();
  if (roomStream) roomStream.close();
  // Stream first, history once the stream is attached (the listener answers only then): a
  // message sent meanwhile is in the page or on the stream, never in neither.
  roomStream = stream(`/v1/chat-rooms/${id}/messages/stream`, { message: showMessage });
  await new Promise((resolve) => {
    roomStream.addEventListener("open", resolve, { once: true });
    setTimeout(resolve, 5000);
  });
  const page = await api("GET", `/v1/chat-rooms/${id}/messages?limit=50`);
  page.items.reverse().forEach(showMessage);
  loadRooms();
}

// Friends show their effective presence (SPEC §8): online while one of their streams is open,
// unless they set away or invisible (offline) here.
$("my-presence").onchange = async (e) => {
  await api("PUT", "/v1/users/me/presence", { status: e.target.value });
};

$("login").onsubmit = async (e) => {
  e.preventDefault();
  try { await login($("email").value, $("password").value); } catch (err) { $("login-error").textContent = err.message; }
};
$("do-register").onclick = async () => {
  try {
    await api("POST", "/v1/users", { email: $("email").value, password: $("password").value, display_name: $("name").value || $("email").value });
    await login($("email").value, $("password").value);
  } catch (err) { $("login-error").textContent = err.message; }
};
$("send").onsubmit = async (e) => {
  e.preventDefault();
  const body = $("body").value.trim();
  if (!room || !body) return;
  $("body").value = "";
  await api("POST", `/v1/chat-rooms/${room}/messages`, { body, client_message_id: crypto.randomUUID() });
};
$("avatar-file").onchange = (e) => { if (e.target.files[0]) uploadAvatar(e.target.files[0]); };
$("open-direct").onclick = async () => {
  const r = await api("POST", "/v1/chat-rooms", { member_ids: [$("peer").value.trim()] });
  await loadRooms();
  openRoom(r.room_id, "direct");
};
