//! The console's account pages in a real browser, the third flow of `console_browser`: an
//! administrator creates a user with the keyboard only (Tab to the field, type, Enter submits),
//! disables and enables it, ends one of its two sessions, creates an application key and sees its id once (not after a
//! reload), adds a unit and a member in the organization tree, previews a grant in the rule
//! editor, saves it and finds it under "what changed"; every new page is checked at 400 pixels wide for horizontal overflow.

use anyhow::ensure;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use ironworx_entity::queries::now_ms;
use ironworx_importer::model::values::format_date;
use ironworx_tests::{ADMIN_PASSWORD, TestServer};

use crate::console_browser::{Shots, THING, choose, click, fill, text_until};
use crate::login_browser::{sign_in, text_of};

const DAVE: &str = "dave";

/// Types `keys` into whatever has the focus, as a keyboard does.
async fn press(browser: &Client, keys: &str) -> anyhow::Result<()> {
    let mut actions = KeyActions::new("keyboard".to_owned());
    for key in keys.chars() {
        actions = actions
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
    }
    browser.perform_actions(actions).await?;
    Ok(())
}

/// The id of the focused element.
async fn focused(browser: &Client) -> anyhow::Result<String> {
    Ok(browser
        .active_element()
        .await?
        .attr("id")
        .await?
        .unwrap_or_default())
}

/// Presses Tab until `#id` has the focus.
async fn tab_to(browser: &Client, id: &str) -> anyhow::Result<()> {
    for _ in 0..60 {
        if focused(browser).await? == id {
            return Ok(());
        }
        press(browser, &Key::Tab.to_string()).await?;
    }
    anyhow::bail!("Tab never reaches #{id}")
}

/// Creates dave with the keyboard only.
async fn create_user_by_keyboard(browser: &Client) -> anyhow::Result<()> {
    click(browser, "nav-users").await?;
    text_until(browser, "page-title", |t| t == "Users").await?;
    tab_to(browser, "user-name").await?;
    press(browser, DAVE).await?;
    press(browser, &Key::Tab.to_string()).await?;
    ensure!(
        focused(browser).await? == "user-password",
        "Tab skips the password"
    );
    press(browser, "dave-password-1").await?;
    press(browser, &Key::Enter.to_string()).await?;
    let created = text_until(browser, "page-message", |m| m.starts_with("Created")).await?;
    ensure!(created == "Created user dave.", "{created}");
    Ok(())
}

/// Grants dave PropertyRead on Temperature after its preview in the rule editor.
async fn preview_grant(browser: &Client, server: &TestServer, shots: &Shots) -> anyhow::Result<()> {
    browser.goto(&server.url(THING)).await?;
    for (id, value) in [
        ("rule-permission", "PropertyRead"),
        ("rule-resource", "Temperature"),
        ("rule-principal-type", "User"),
        ("rule-step", "preview"),
    ] {
        choose(browser, id, value).await?;
    }
    fill(browser, "rule-principal", DAVE).await?;
    click(browser, "rule-save").await?;
    let title = text_until(browser, "preview-title", |t| !t.is_empty()).await?;
    ensure!(
        title.starts_with("Adding the Own rule allow PropertyRead"),
        "{title}"
    );
    let flips = text_of(browser, "flips").await?;
    ensure!(
        flips.contains("dave Things/Pump1 PropertyRead Temperature allowed"),
        "{flips}"
    );
    shots.take(browser, "rule-preview").await?;
    click(browser, "preview-save").await?;
    let saved = text_until(browser, "page-message", |m| m.starts_with("Saved")).await?;
    ensure!(saved.starts_with("Saved allow PropertyRead"), "{saved}");
    Ok(())
}

/// dave signs in twice elsewhere; his page lists both sessions, and one is ended by its button.
async fn end_a_session(browser: &Client, server: &TestServer) -> anyhow::Result<()> {
    for _ in 0..2 {
        let login = ironworx_tests::forms::login(server, "Everyone", DAVE, "dave-password-1").await;
        ensure!(login.status.is_redirection(), "{}", login.body);
    }
    browser.refresh().await?;
    let listed = Locator::Css("#user-sessions tbody tr");
    ensure!(
        browser.find_all(listed).await?.len() == 2,
        "not two sessions"
    );
    let button = browser.find(Locator::Css("#user-sessions button")).await?;
    let id = button.attr("id").await?.unwrap_or_default();
    button.click().await?;
    let message = text_until(browser, "page-message", |m| m.starts_with("Ended")).await?;
    ensure!(message == "Ended 1 session of dave.", "{message}");
    ensure!(
        browser.find(Locator::Id(&id)).await.is_err(),
        "{id} is still listed"
    );
    ensure!(
        browser.find_all(listed).await?.len() == 1,
        "not one session left"
    );
    Ok(())
}

/// Whether the page is wider than the window.
async fn overflows(browser: &Client) -> anyhow::Result<bool> {
    let wider = browser
        .execute(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth",
            Vec::new(),
        )
        .await?;
    Ok(wider.as_bool().unwrap_or(true))
}

/// The administrator's account flow.
pub(super) async fn accounts(
    browser: &Client,
    server: &TestServer,
    shots: &Shots,
) -> anyhow::Result<()> {
    browser.set_window_size(1280, 900).await?;
    browser
        .goto(&server.url("/Thingworx/FormLogin/Everyone"))
        .await?;
    sign_in(browser, "Administrator", ADMIN_PASSWORD).await?;
    click(browser, "console-link").await?;
    text_until(browser, "page-title", |t| t == "Console").await?;

    // A user, created with the keyboard; disabled and enabled again.
    create_user_by_keyboard(browser).await?;
    click(browser, "user-disable").await?;
    let state = text_until(browser, "user-enabled", |t| t == "no").await?;
    ensure!(state == "no", "still enabled: {state}");
    click(browser, "user-enable").await?;
    let message = text_until(browser, "page-message", |m| m.starts_with("Enabled")).await?;
    ensure!(message == "Enabled dave.", "{message}");
    ensure!(text_of(browser, "user-enabled").await? == "yes");
    end_a_session(browser, server).await?;
    shots.take(browser, "user").await?;

    // An application key: its id once, not after a reload.
    click(browser, "nav-keys").await?;
    fill(browser, "key-name", "gateway").await?;
    fill(browser, "key-user", DAVE).await?;
    fill(browser, "key-days", "30").await?;
    click(browser, "key-create").await?;
    let key = text_until(browser, "key-value", |k| !k.is_empty()).await?;
    ensure!(key.len() >= 16, "no key id shown: {key}");
    browser
        .goto(&server.url("/Thingworx/Console/ApplicationKeys"))
        .await?;
    let keys = text_of(browser, "key-list").await?;
    ensure!(keys.contains("gateway"), "{keys}");
    ensure!(
        browser.find(Locator::Id("key-value")).await.is_err(),
        "the key id is shown again"
    );
    shots.take(browser, "keys").await?;

    // The organization tree: a unit below Acme with dave in it.
    browser
        .goto(&server.url("/Thingworx/Console/Organizations/Acme"))
        .await?;
    fill(browser, "org-unit-name", "Plant").await?;
    click(browser, "org-unit-add").await?;
    text_until(browser, "page-message", |m| m.starts_with("Added the unit")).await?;
    browser
        .find(Locator::Id("org-member-unit"))
        .await?
        .select_by_value("Plant")
        .await?;
    fill(browser, "org-member-name", DAVE).await?;
    click(browser, "org-member-add").await?;
    text_until(browser, "page-message", |m| m.starts_with("Added User")).await?;
    let plant = text_of(browser, "unit-Plant").await?;
    ensure!(plant.contains("User dave"), "{plant}");
    let tree = text_of(browser, "unit-Acme").await?;
    ensure!(tree.contains("Plant"), "Plant is not below Acme: {tree}");
    shots.take(browser, "organization").await?;

    // What changed since before a grant to dave.
    let before = format_date(now_ms());
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    preview_grant(browser, server, shots).await?;
    click(browser, "nav-changes").await?;
    fill(browser, "changes-before", &before).await?;
    fill(browser, "changes-user", DAVE).await?;
    click(browser, "changes-show").await?;
    let count = text_until(browser, "changes-count", |c| c.starts_with('1')).await?;
    ensure!(count.starts_with('1'), "{count}");
    let table = text_of(browser, "changes").await?;
    ensure!(
        table.contains("dave on Things/Pump1") && table.contains("PropertyRead"),
        "{table}"
    );
    shots.take(browser, "changes").await?;

    // A narrow screen: no page scrolls sideways.
    browser.set_window_size(400, 900).await?;
    for path in [
        "/Thingworx/Console/",
        "/Thingworx/Console/Users",
        "/Thingworx/Console/Users/dave",
        "/Thingworx/Console/ApplicationKeys",
        "/Thingworx/Console/Organizations/Acme",
        "/Thingworx/Console/Groups",
        THING,
    ] {
        browser.goto(&server.url(path)).await?;
        text_of(browser, "page-title").await?;
        ensure!(!overflows(browser).await?, "{path} overflows at 400 pixels");
    }
    browser
        .goto(&server.url("/Thingworx/Console/Users/dave"))
        .await?;
    shots.take(browser, "narrow").await?;
    Ok(())
}
