// Uses a report page's table tools as a reader would (tests/test_table_tools.py).
// Usage: node table_tools.js /abs/report.html; prints one JSON object:
//   noscript   the long table's rows and header buttons with scripts off
//   tools      per table: rows, whether it has a search box (with its label) and sort buttons
//   ascending / descending   the last column's first cells after one and two clicks, and aria-sort
//   search     rows shown and the status line after typing into the search box
// Needs NODE_PATH to hold playwright-core (tests/browser.py sets it).
const { chromium } = require("playwright-core");

(async () => {
  const file = process.argv[2];
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
  const result = {};
  try {
    const off = await browser.newContext({ javaScriptEnabled: false });
    const plain = await off.newPage();
    await plain.goto("file://" + file);
    result.noscript = await plain.evaluate(() => {
      const table = [...document.querySelectorAll("main table")].sort((a, b) => b.rows.length - a.rows.length)[0];
      return { rows: table.tBodies[0].rows.length, buttons: table.querySelectorAll("button").length,
               search: document.querySelectorAll("input[type=search]").length };
    });
    await off.close();

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto("file://" + file, { waitUntil: "load" });
    result.tools = await page.evaluate(() => [...document.querySelectorAll("main table")].map((table) => {
      const input = document.querySelector(`input[aria-controls="${table.id}"]`);
      const label = input && document.querySelector(`label[for="${input.id}"]`);
      return { rows: table.tBodies[0].rows.length, search: !!input, label: label ? label.textContent : null,
               buttons: [...table.tHead.querySelectorAll("th > button")].map((b) => b.textContent.trim()) };
    }));
    const long = await page.evaluate(() => {
      const table = [...document.querySelectorAll("main table")].sort((a, b) => b.rows.length - a.rows.length)[0];
      return table.id;
    });
    const column = await page.evaluate((id) => document.getElementById(id).tHead.rows[0].cells.length, long);
    const header = `#${long} thead th:nth-child(${column})`;
    const cells = (id, n) => page.evaluate(([id, n]) => [...document.getElementById(id).tBodies[0].rows]
      .filter((r) => !r.hidden).map((r) => r.cells[n - 1].textContent.trim()), [id, n]);
    await page.click(`${header} button`);
    result.ascending = { sort: await page.getAttribute(header, "aria-sort"), cells: await cells(long, column) };
    await page.click(`${header} button`);
    result.descending = { sort: await page.getAttribute(header, "aria-sort"), cells: await cells(long, column) };
    await page.fill(`input[aria-controls="${long}"]`, "provider 7");
    result.search = { first: await cells(long, 1),
                      status: await page.textContent(`#${long}-status`) };
    await page.fill(`input[aria-controls="${long}"]`, "");
    result.cleared = { rows: (await cells(long, 1)).length, status: await page.textContent(`#${long}-status`) };
    result.errors = errors;
    await context.close();
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result));
})().catch((e) => { console.error(e); process.exit(1); });
