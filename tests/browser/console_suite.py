#!/usr/bin/env python3
"""The console in a real browser (docs/interface/console.md "Tested in a
real browser"): Playwright drives Debian's chromium through every page and
action, as a tenant and as the operator, and checks tenant isolation, CSRF
rejection, the page structure (one h1, the six nav links, labelled
controls, table headers) and that no configured secret appears in any page.
A screenshot of every page goes to EB_SHOTS.

Run by cli/tests/console_browser.rs, which starts `engage-bridge serve` (or
`engage-bridge console` against moto), seeds the scenario and passes it here
in the environment. Prints "N passed, M failed"; exits 1 on any failure.
"""

import base64
import json
import os
import re
import sys
import time
import traceback
import urllib.parse
import urllib.request

from playwright.sync_api import expect, sync_playwright

ENV = os.environ
BASE = ENV["EB_BASE"].rstrip("/")
MODE = ENV["EB_MODE"]  # serve | console
TENANT, TENANT_SECRET = ENV["EB_TENANT"], ENV["EB_TENANT_SECRET"]
OTHER = ENV["EB_OTHER"]
OPERATOR_TOKEN = ENV["EB_OPERATOR_TOKEN"]
SECRETS = json.loads(ENV["EB_SECRETS"])
OTHER_DELIVERY = ENV["EB_OTHER_DELIVERY_ID"]
OTHER_DEAD_LETTER = urllib.parse.quote(ENV["EB_OTHER_DEAD_LETTER_ID"], safe="")
SHOTS = ENV["EB_SHOTS"]
CHROMIUM = ENV.get("EB_CHROMIUM", "/usr/bin/chromium")
NAV = ["Overview", "Deliveries", "Dead letters", "Segments", "Users", "Live"]
PAGES = ["/console", "/console/deliveries", "/console/dead-letters", "/console/segments",
         "/console/users", "/console/live"]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

results = []


def check(name):
    def run(fn):
        started = time.monotonic()
        try:
            fn()
            results.append((name, None))
            print(f"ok   {name} ({time.monotonic() - started:.1f} s)", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            results.append((name, e))
            print(f"FAIL {name}: {e}", flush=True)
            traceback.print_exc()
        return fn
    return run


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, f"{MODE}-{name}.png"), full_page=True)


def assert_no_secret(page, where):
    html = page.content()
    for secret in SECRETS:
        assert secret not in html, f"a configured secret appears in {where}"


def assert_structure(page, title):
    """One h1 with the page's name, the six nav links, labelled controls, th headers."""
    h1 = page.locator("h1")
    # Boosted links and forms (htmx) swap the page in place: wait for it.
    expect(h1).to_have_text(title, timeout=15_000)
    assert h1.count() == 1, f"{page.url}: {h1.count()} h1"
    assert h1.inner_text().strip() == title, f"h1 {h1.inner_text()!r} != {title!r}"
    links = page.locator("nav[aria-label=Console] a").all_inner_texts()
    assert [l.strip() for l in links] == NAV, f"nav links {links}"
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden')
        .filter(e => !(e.getAttribute('aria-label') || (e.id && document.querySelector(`label[for="${e.id}"]`))))
        .map(e => e.name || e.id || e.outerHTML)""")
    assert not unlabelled, f"controls without a label: {unlabelled}"
    tables_without_th = page.evaluate(
        "() => [...document.querySelectorAll('table')].filter(t => !t.querySelector('th')).length")
    assert tables_without_th == 0, "a table without th headers"
    assert_no_secret(page, page.url)


def visit(page, path, title=None, expect_status=200):
    response = page.goto(BASE + path)
    assert response is not None
    assert response.status == expect_status, f"GET {path}: {response.status}"
    if path.startswith("/console"):
        csp = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, f"CSP {csp!r}"
    if title:
        assert_structure(page, title)
    else:
        assert_no_secret(page, path)
    return response


def sign_in(page, workspace, secret):
    visit(page, "/console/login")
    page.get_by_label("Workspace").fill(workspace)
    page.get_by_label("Secret", exact=True).fill(secret)
    page.locator("form[action='/console/login'] button", has_text="Sign in").click()
    page.wait_for_url(lambda url: not url.endswith("/console/login"))


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/console/login$"))


def wait_for(fn, what, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        if fn():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def send_event(workspace, secret, name, uid):
    """An mParticle Events-API request (serve only: it has the /v1 routes)."""
    body = json.dumps({
        "user_identities": [{"identity_type": "customer_id", "identity": uid}],
        "events": [{"event_type": "custom_event",
                    "data": {"event_id": int(time.time() * 1000), "event_name": name,
                             "timestamp_unixtime_ms": int(time.time() * 1000)}}],
    }).encode()
    request = urllib.request.Request(BASE + "/v1/mparticle/events", data=body, method="POST")
    request.add_header("content-type", "application/json")
    token = base64.b64encode(f"{workspace}:{secret}".encode()).decode()
    request.add_header("authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        @check("without a session every page redirects to the sign-in page")
        def _():
            for path in PAGES + ["/console/deliveries/x", "/console/nope"]:
                visit(page, path)
                assert page.url.endswith("/console/login"), f"{path} -> {page.url}"
            response = page.goto(BASE + "/")
            assert page.url.endswith("/console/login"), "GET / leads to the console"

        @check("sign-in page: labelled fields, one generic error for wrong credentials")
        def _():
            visit(page, "/console/login")
            assert page.locator("h1").inner_text() == "Sign in"
            assert page.get_by_label("Operator token").count() == 1
            shot(page, "sign-in")
            for workspace, secret in [(TENANT, "wrong-secret"), ("no-such-workspace", TENANT_SECRET)]:
                page.get_by_label("Workspace").fill(workspace)
                page.get_by_label("Secret", exact=True).fill(secret)
                with page.expect_response(lambda r: r.url.endswith("/console/login") and r.request.method == "POST") as answer:
                    page.locator("form[action='/console/login'] button").click()
                assert answer.value.status == 401
                assert page.get_by_role("alert").inner_text() == "invalid credentials"
            assert_no_secret(page, "sign-in")

        @check("CSRF: a sign-in without the form's token is refused")
        def _():
            other = browser.new_context()
            answer = other.request.post(BASE + "/console/login", form={
                "csrf": "forged", "workspace": TENANT, "secret": TENANT_SECRET})
            assert answer.status == 403, answer.status
            assert "eb_console=" not in (answer.headers.get("set-cookie") or "")
            other.close()

        @check("tenant signs in and sees the Overview")
        def _():
            sign_in(page, TENANT, TENANT_SECRET)
            assert page.url.endswith("/console"), page.url
            cookie = next(c for c in context.cookies() if c["name"] == "eb_console")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            visit(page, "/console", "Overview")
            rows = page.locator("tbody tr")
            assert rows.filter(has_text="warehouse").count() == 1
            broken = rows.filter(has_text="broken").first
            assert "failing" in broken.inner_text() or "circuit open" in broken.inner_text(), broken.inner_text()
            assert "••••" in page.locator("tbody").inner_text(), "secrets shown as ••••"
            received = page.locator(".step", has_text="received").locator("dd").inner_text()
            assert int(received.replace("\u202f", "")) > 0, received
            for window in ["1 h", "7 d"]:
                page.get_by_role("link", name=window, exact=True).click()
                page.wait_for_url(re.compile(r".*window="))
                assert_structure(page, "Overview")
            shot(page, "overview")

        @check("Send test event reaches the receiver")
        def _():
            visit(page, "/console", "Overview")
            row = page.locator("tbody tr", has_text="warehouse")
            row.get_by_role("button", name="Send test event").click()
            expect(page.locator(".notice")).to_be_visible(timeout=15_000)
            assert "Test event delivered to warehouse" in page.locator(".notice").inner_text()
            assert page.get_by_role("button", name="Pause").count() >= 1

        @check("Pause holds a stream's batches; Resume sends them")
        def _():
            visit(page, "/console", "Overview")
            row = page.locator("tbody tr", has_text="warehouse")
            row.get_by_role("button", name="Pause").click()
            expect(page.locator(".notice")).to_contain_text("warehouse is paused", timeout=15_000)
            row = page.locator("tbody tr", has_text="warehouse")
            assert "paused (by operator)" in row.inner_text(), row.inner_text()
            assert row.get_by_role("button", name="Resume").count() == 1
            shot(page, "overview-paused")
            if MODE == "serve":
                # An event while paused waits (the delivery log shows it
                # waiting), and is delivered once resumed.
                send_event(TENANT, TENANT_SECRET, "Paused Then Resumed", "pause-user")
                def waiting():
                    visit(page, "/console/deliveries?uid=pause-user&stream=warehouse", "Deliveries")
                    rows = page.locator("tbody")
                    return rows.count() > 0 and "waiting" in rows.inner_text()
                wait_for(waiting, "the paused stream's batch shown waiting")
            visit(page, "/console", "Overview")
            page.locator("tbody tr", has_text="warehouse").get_by_role("button", name="Resume").click()
            expect(page.locator(".notice")).to_contain_text("warehouse is resumed", timeout=15_000)
            row = page.locator("tbody tr", has_text="warehouse")
            assert "paused" not in row.inner_text(), row.inner_text()
            if MODE == "serve":
                def delivered():
                    visit(page, "/console/deliveries?uid=pause-user&stream=warehouse&outcome=delivered",
                          "Deliveries")
                    return page.locator("tbody tr").count() > 0
                # Sent within seconds of Resume, not at the 60 s re-check.
                wait_for(delivered, "the waiting batch delivered after Resume", seconds=20)

        @check("CSRF: an action with a wrong token is refused")
        def _():
            answer = context.request.post(BASE + "/console/streams/warehouse/test", form={"csrf": "wrong"})
            assert answer.status == 403, answer.status
            answer = context.request.post(BASE + "/console/dead-letters/replay", form={"csrf": "", "scope": "all"})
            assert answer.status == 403, answer.status

        @check("Deliveries: filters in the URL, an attempt's request and answer")
        def _():
            visit(page, "/console/deliveries", "Deliveries")
            assert page.locator("tbody tr").count() > 0
            shot(page, "deliveries")
            visit(page, "/console/deliveries?outcome=delivered&stream=warehouse", "Deliveries")
            badges = page.locator("tbody .badge").all_inner_texts()
            assert badges and set(badges) == {"delivered"}, badges
            visit(page, "/console/deliveries?uid=jane&stream=warehouse", "Deliveries")
            assert page.locator("tbody tr").count() > 0
            page.locator("tbody tr a").first.click()
            assert_structure(page, "Delivery attempt")
            headers = dict(zip(page.locator("table.kv").first.locator("tbody th").all_inner_texts(),
                               page.locator("table.kv").first.locator("tbody td").all_inner_texts()))
            assert headers.get("authorization") == "••••", headers
            assert headers.get("x-api-key") == "••••", headers
            assert headers.get("webhook-id") not in (None, "••••"), headers
            assert headers.get("webhook-signature", "").startswith("v1,"), headers
            assert '"moe_request_id"' in page.locator("pre.code").first.inner_text()
            shot(page, "delivery-detail")
            visit(page, "/console/deliveries?outcome=dead-lettered", "Deliveries")
            assert page.locator("tbody tr").count() > 0, "dead-lettered attempts are listed"

        @check("Dead letters: detail, replay one with preview and Confirm, progress")
        def _():
            visit(page, "/console/dead-letters", "Dead letters")
            assert page.locator("tbody tr").count() >= 2
            shot(page, "dead-letters")
            page.locator("tbody tr a").first.click()
            assert_structure(page, "Dead letter")
            assert "HTTP 503" in page.locator("table").first.inner_text()
            shot(page, "dead-letter-detail")
            page.get_by_role("button", name="Replay", exact=True).click()
            assert_structure(page, "Replay dead letters")
            assert re.search(r"1 dead letters, \d+ events will be replayed", page.locator(".preview").inner_text())
            page.get_by_role("button", name="Confirm").click()
            assert_structure(page, "Replay")
            # htmx polls the progress until it says the replay finished.
            wait_for(lambda: page.locator(".notice").count() > 0, "the replay to finish")
            assert re.search(r"Replayed 1 of 1 dead letters", page.locator(".notice").inner_text())
            assert_structure(page, "Replay")

        @check("Dead letters: all matching the filter, preview and Cancel; Discard with confirmation")
        def _():
            visit(page, "/console/dead-letters?stream=broken", "Dead letters")
            n = page.locator("tbody tr").count()
            assert n >= 1
            page.get_by_role("button", name="Replay all matching the filter").click()
            assert_structure(page, "Replay dead letters")
            # Retried batches may come back meanwhile: at least those listed.
            shown = re.search(r"(\d+) dead letters, \d+ events will be replayed", page.locator(".preview").inner_text())
            assert shown and int(shown.group(1)) >= n, page.locator(".preview").inner_text()
            page.get_by_role("link", name="Cancel").click()
            assert_structure(page, "Dead letters")
            visit(page, "/console/dead-letters?stream=broken", "Dead letters")
            page.locator("tbody input[type=checkbox]").first.check()
            page.get_by_role("button", name="Discard selected").click()
            assert_structure(page, "Discard dead letters")
            assert "1 dead letters" in page.locator(".preview").inner_text()
            page.get_by_role("button", name="Discard", exact=True).click()
            expect(page.locator(".notice")).to_be_visible()
            assert "Discarded 1 dead letters" in page.locator(".notice").inner_text()
            visit(page, "/console/dead-letters?stream=broken", "Dead letters")

        @check("Segments: members and sync history")
        def _():
            visit(page, "/console/segments", "Segments")
            page.get_by_role("link", name="Cart Drop off").click()
            assert_structure(page, "Cart Drop off")
            assert "jane" in page.locator("section", has_text="Members").inner_text()
            history = page.locator("section", has_text="Sync history")
            assert "cohort-message-1" in history.inner_text(), history.inner_text()
            shot(page, "segment")
            visit(page, "/console/segments", "Segments")
            shot(page, "segments")

        @check("Users: attributes, identities, segments, recent deliveries")
        def _():
            visit(page, "/console/users", "Users")
            page.get_by_label("uid or anonymous id").fill("jane")
            page.get_by_role("button", name="Search").click()
            expect(page.locator("#identities-title")).to_be_visible(timeout=15_000)
            assert_structure(page, "Users")
            text = page.locator("main").inner_text()
            assert "plan" in text and "premium" in text, text
            assert "amplitude-" in page.locator("section", has_text="Segments").inner_text()
            assert page.locator("section", has_text="Recent deliveries").locator("tbody tr").count() > 0
            shot(page, "users")

        @check("Live: events appear, Pause and Resume the view")
        def _():
            visit(page, "/console/live", "Live")
            wait_for(lambda: page.locator("#live-status").inner_text() == "Live", "the stream to connect")
            if MODE == "serve":
                send_event(TENANT, TENANT_SECRET, "Live Ping", "jane")
            wait_for(lambda: page.locator("#live-rows tr", has_text="Live Ping").count() > 0,
                     "a live row", seconds=25)
            page.get_by_role("button", name="Pause", exact=True).click()
            assert page.locator("#live-status").inner_text() == "Paused"
            page.get_by_role("button", name="Resume", exact=True).click()
            assert page.locator("#live-status").inner_text() == "Live"
            shot(page, "live")

        @check("tenant isolation: another workspace's attempts and dead letters are not found")
        def _():
            visit(page, f"/console/deliveries/{OTHER_DELIVERY}", "Delivery attempt", expect_status=404)
            visit(page, f"/console/dead-letters/{OTHER_DEAD_LETTER}", "Dead letter", expect_status=404)
            visit(page, "/console/deliveries?stream=other-broken", "Deliveries")
            assert page.locator("tbody tr").count() == 0
            answer = context.request.get(BASE + "/console/workspaces", max_redirects=0)
            assert answer.status == 303, "a tenant has no workspace picker"
            visit(page, "/console/users?q=olga", "Users")
            assert "No profile" in page.locator("main").inner_text()

        @check("phone-sized pages (390×844)")
        def _():
            phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
            small = phone.new_page()
            for path, name in [("/console", "overview"), ("/console/deliveries", "deliveries"),
                               ("/console/dead-letters", "dead-letters")]:
                small.goto(BASE + path)
                width = small.evaluate("() => document.documentElement.scrollWidth")
                assert width <= 390, f"{path} is {width}px wide on a phone"
                small.screenshot(path=os.path.join(SHOTS, f"{MODE}-{name}-phone.png"), full_page=True)
            phone.close()

        @check("Sign out ends the session")
        def _():
            visit(page, "/console", "Overview")
            sign_out(page)
            visit(page, "/console/deliveries")
            assert page.url.endswith("/console/login")

        @check("operator signs in, picks a workspace, sees it")
        def _():
            visit(page, "/console/login")
            page.get_by_label("Operator token").fill(OPERATOR_TOKEN)
            page.locator("form[action='/console/login/operator'] button").click()
            page.wait_for_url(re.compile(r".*/console/workspaces$"))
            assert page.locator("h1").inner_text() == "Choose a workspace"
            assert_no_secret(page, "the workspace picker")
            shot(page, "workspace-picker")
            page.get_by_label("Workspace").select_option(OTHER)
            page.get_by_role("button", name="Open").click()
            page.wait_for_url(re.compile(r".*/console$"))
            assert_structure(page, "Overview")
            assert page.locator("tbody tr", has_text="other-broken").count() == 1
            visit(page, f"/console/deliveries/{OTHER_DELIVERY}", "Delivery attempt")
            visit(page, f"/console/dead-letters/{OTHER_DEAD_LETTER}", "Dead letter")
            for path in PAGES:
                visit(page, path)
                assert_no_secret(page, path)
            sign_out(page)

        @check("no script error on any page")
        def _():
            # Answers the suite asks for (401 sign-ins, 404 isolation) are not script errors.
            real = [e for e in errors if not e.startswith("Failed to load resource")]
            assert not real, real

        browser.close()

    failed = [name for name, error in results if error]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
