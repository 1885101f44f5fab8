"""The sandbox in a real browser (Debian's Chromium driven by Playwright): a person posts as a
customer, then claims, tags, drafts, edits, sends and logs the outcome by clicking, and what
the screen shows is checked after every step. Leaves tests/artifacts/sandbox.png behind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.runner import RunningSandbox

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_MS = 15_000
COMPLAINT = "Po aktualizaci aplikace padá a ztratil jsem data! <script>window.__pwned=1</script>"
EDITED = "Dobrý den Jiří, omlouváme se. Oprava vyjde dnes večer a vaše data jsou v bezpečí."

if not CHROMIUM.exists():
    pytest.skip(
        f"the browser test needs Debian's Chromium at {CHROMIUM}, which is not installed "
        "(and could not be installed by `make test`, which needs root and apt): install it "
        "with `sudo apt-get install -y --no-install-recommends chromium`",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is missing: pip install -e '.[dev]'"
)


def post_as_customer(page: Any) -> Any:
    """A customer writes in through the signed webhook; returns the card it became."""
    expect = sync_api.expect
    form = page.locator("#customer-form")
    form.locator("select[name=network]").select_option("instagram")
    form.locator("input[name=name]").fill("Jiří Novák")
    form.locator("input[name=handle]").fill("@jirinovak")
    form.locator("input[name=followers]").fill("4200")
    form.locator("textarea[name=text]").fill(COMPLAINT)
    form.get_by_role("button", name="Post as customer").click()
    card = page.locator("#messages > .msg", has_text="Jiří Novák").first
    expect(card).to_contain_text("on Instagram")
    # Customer text is data: the <script> is shown, never run.
    expect(card).to_contain_text("<script>window.__pwned=1</script>")
    assert page.evaluate("window.__pwned") is None
    return card


def claim_tag_and_draft(page: Any, card: Any) -> Any:
    """Returns the draft posted in the card's thread."""
    expect = sync_api.expect
    card.get_by_role("button", name="Claim", exact=True).click()
    expect(card.get_by_role("button", name="Unclaim")).to_be_visible()
    expect(card).to_contain_text("@you")
    # Tag it vip (bug came from the routing rule).
    card.locator(".bk-choices label", has_text="vip").locator("input").check()
    expect(card.locator(".bk-context").first).to_contain_text("vip")
    card.get_by_role("button", name="Draft reply").click()
    draft = card.locator(".thread .msg", has=page.get_by_role("button", name="Send"))
    expect(draft).to_be_visible()
    return draft


def edit_and_send(page: Any, card: Any, draft: Any) -> None:
    expect = sync_api.expect
    draft.get_by_role("button", name="Edit").click()
    modal = page.locator("#modal")
    expect(modal).to_contain_text("Edit reply")
    modal.locator("textarea").fill(EDITED)
    modal.get_by_role("button", name="Save").click()
    expect(page.locator("#modal-backdrop")).to_be_hidden()
    expect(draft).to_contain_text(EDITED)
    # Send: Slack asks first; then the customer receives it.
    draft.get_by_role("button", name="Send").click()
    expect(page.locator("#confirm")).to_contain_text("Send reply?")
    page.locator("#confirm-yes").click()
    expect(card.locator(".thread")).to_contain_text("Sent by")
    reply = page.locator("#feed .feed-reply").first
    expect(reply).to_contain_text("Reply delivered to the customer")
    expect(reply).to_contain_text(EDITED)


def log_outcome(page: Any, card: Any) -> None:
    """A sale of 120 EUR, through the outcome modal."""
    expect = sync_api.expect
    card.get_by_role("button", name="Log outcome").click()
    modal = page.locator("#modal")
    expect(modal).to_contain_text("Outcome")
    inputs = modal.locator(".bk-input")
    inputs.nth(0).locator("select").select_option("sale")
    inputs.nth(1).locator("input").fill("120")
    inputs.nth(2).locator("select").select_option("EUR")
    inputs.nth(3).locator("select").select_option("customer")
    modal.get_by_role("button", name="Save").click()
    expect(page.locator("#modal-backdrop")).to_be_hidden()
    expect(card).to_contain_text("120.00 EUR")


def command_then_sample_day(page: Any) -> None:
    expect = sync_api.expect
    page.locator("#command-input").fill("/crm help")
    page.locator("#command-input").press("Enter")
    expect(page.locator(".msg.ephemeral").last).to_contain_text("Only visible to you")
    page.get_by_role("button", name="Play sample day").click()
    expect(page.locator("#sample-status")).to_contain_text("Sample day played", timeout=30_000)
    # Buying questions were routed to #sales: it now counts messages.
    expect(page.locator("#channels a", has_text="sales")).to_have_text(re.compile(r"sales\s*\d+"))


def test_a_person_works_a_conversation_by_clicking(sandbox: RunningSandbox) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 960})
            page.set_default_timeout(STEP_MS)
            page.goto(sandbox.url)
            sync_api.expect(page.locator("#channel-name")).to_have_text("#support")
            card = post_as_customer(page)
            draft = claim_tag_and_draft(page, card)
            edit_and_send(page, card, draft)
            log_outcome(page, card)
            command_then_sample_day(page)
            # A populated morning, top of #support, for the README.
            page.locator("#messages").evaluate("el => el.scrollTop = 0")
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "sandbox.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 20_000
        finally:
            browser.close()
