// Two users in two browser contexts chat through the web client (deploy/gateway/web): each
// message must appear in the other's page within 1 s. Exit status 0 on success.
import { createRequire } from "module";
const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const base = process.argv[2];
const out = process.env.HL_BROWSER_OUT;

async function api(method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const data = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}

async function user(name) {
  const email = `${name.toLowerCase()}-${Date.now()}-${Math.random().toString(16).slice(2, 8)}@example.com`;
  const password = "browser-test-pw";
  const u = await api("POST", "/v1/users", { email, password, display_name: name });
  const s = await api("POST", "/v1/sessions", { email, password });
  return { id: u.user_id, email, password, token: s.token };
}

async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ada = await user("Ada"), bob = await user("Bob");
const req = await api("POST", "/v1/friend-requests", { to_user_id: bob.id }, ada.token);
await api("POST", `/v1/friend-requests/${req.request_id}/accept`, undefined, bob.token);
const room = (await api("POST", "/v1/chat-rooms", { member_ids: [bob.id] }, ada.token)).room_id;
for (const u of [ada, bob])
  await until(async () => (await api("GET", "/v1/chat-rooms", undefined, u.token)).items.length > 0, 30000, "the room in the read models");

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
let failed = false;
try {
  const pages = [];
  for (const u of [ada, bob]) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    await page.goto(base + "/");
    await page.fill("#email", u.email);
    await page.fill("#password", u.password);
    await page.click("#do-login");
    await page.click(`.room[data-room="${room}"]`);
    pages.push(page);
  }
  // the room streams start asynchronously: wait until a first message shows in both pages
  await pages[0].fill("#body", "warm-up");
  await pages[0].press("#body", "Enter");
  for (const p of pages) await p.waitForSelector(".msg", { timeout: 10000 });
  const latencies = [];
  for (let i = 0; i < 6; i++) {
    const [from, to] = i % 2 ? [pages[1], pages[0]] : [pages[0], pages[1]];
    const text = `hello ${i} ${Math.random().toString(16).slice(2, 8)}`;
    const t0 = Date.now();
    await from.fill("#body", text);
    await from.press("#body", "Enter");
    await to.waitForFunction((t) => [...document.querySelectorAll(".msg")].some((m) => m.textContent.includes(t)), text, { timeout: 1000 });
    latencies.push(Date.now() - t0);
  }
  console.log("delivered to the other page in ms:", latencies.join(", "));
  await pages[0].screenshot({ path: `${out}/chat-ada.png` });
  await pages[1].screenshot({ path: `${out}/chat-bob.png` });
  console.log(`screenshots: ${out}/chat-ada.png ${out}/chat-bob.png`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
