// Checks rendered report pages in headless Chromium, as a reader's browser shows them.
// Usage: node check.js < pages.json, where pages.json is [{"file": "/abs/report.html", "width": 390}, ...].
// Prints one JSON list, one result per page and width:
//   violations     axe-core's WCAG 2.2 A and AA violations (rule, impact, help, first nodes)
//   scrollWidth    the page's width in CSS pixels, and viewport the window's: a page wider than
//                  its window scrolls sideways
//   external       requests for anything not inside the file (a self-contained page makes none)
//   errors         script errors and console errors
//   obscured       contents links whose heading, once followed, sits under the sticky banner
// Needs NODE_PATH to hold axe-core and playwright-core (tests/browser.py sets it).
const fs = require("fs");
const { chromium } = require("playwright-core");
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

async function check(browser, file, width) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, javaScriptEnabled: true });
  const page = await context.newPage();
  const external = [], errors = [];
  page.on("request", (r) => { if (!/^(file|data|blob|about):/.test(r.url())) external.push(r.url()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.route(/^(?!file:|data:|blob:|about:)/, (route) => route.abort());
  await page.goto("file://" + file, { waitUntil: "load" });
  await page.waitForTimeout(300);
  const size = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth,
                                           viewport: window.innerWidth }));
  await page.addScriptTag({ content: axeSource });
  const axe = await page.evaluate(async (tags) => {
    const r = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "")) }));
  }, WCAG_AA);
  // follow the first few contents links; each heading must end below the sticky banner
  const obscured = [];
  const links = await page.$$eval("nav#TOC a[href^='#']", (as) => as.slice(0, 4).map((a) => a.getAttribute("href")));
  for (const href of links) {
    await page.click(`nav#TOC a[href='${href}']`);
    await page.waitForTimeout(700);
    const hidden = await page.evaluate((id) => {
      const target = document.getElementById(decodeURIComponent(id.slice(1)));
      const heading = target && (target.matches("h1,h2,h3") ? target : target.querySelector("h1,h2,h3"));
      const banner = document.querySelector(".synthetic-banner");
      if (!heading || !banner) return false;
      return heading.getBoundingClientRect().top < banner.getBoundingClientRect().bottom - 1;
    }, href);
    if (hidden) obscured.push(href);
  }
  await context.close();
  return { file, width, violations: axe, ...size, external, errors, obscured };
}

(async () => {
  const pages = JSON.parse(fs.readFileSync(0, "utf8"));
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", "--disable-quic"] });
  const results = [];
  try {
    for (const { file, width } of pages) results.push(await check(browser, file, width));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(results));
})().catch((e) => { console.error(e); process.exit(1); });
