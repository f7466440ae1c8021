//! The web console in a real browser (headless Chromium through chromedriver, as
//! `login_browser`): an administrator signs in through an organization's login page, creates
//! a group, adds members, grants PropertyRead on a Thing in the rule editor, sees a member under
//! "who can", adds a deny for one user and sees explain name it decisive, previews and saves a
//! membership removal, and finds each change in the audit view; a form posted without its CSRF
//! token changes nothing; a non-administrator sees no administration actions and cannot reach
//! them by URL. A third flow (`console_accounts_browser`) manages users, application keys,
//! organizations and "what changed", and checks narrow screens and keyboard use.
//!
//! With `IRONWORX_CONSOLE_SCREENSHOTS=1` the test saves a screenshot of each page to
//! `docs/console/<page>.png` (first backend only).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, ensure};
use fantoccini::{Client, Locator};
use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::organizations::{self, LoginPage};
use ironworx_entity::vocab::MemberType;
use ironworx_tests::{ADMIN_PASSWORD, TestDb, TestServer, backends, connect, post_json};
use reqwest::StatusCode;
use serde_json::json;

use crate::login_browser::{
    WAIT, browser_programs, open_browser, path_of, sign_in, start_chromedriver, text_of,
};

/// Set to `1` to save the screenshots.
const SCREENSHOTS_ENV: &str = "IRONWORX_CONSOLE_SCREENSHOTS";

const ORG: &str = "Acme";
const ALICE: &str = "alice";
const BOB: &str = "bob";
const PASSWORD: &str = "member-password-1";
pub(super) const THING: &str = "/Thingworx/Console/Entities/Things/Pump1";

/// Pump1 with the property Temperature; alice and bob; Administrator in organization Acme.
async fn seed(server: &TestServer, db: &TestDb) {
    let conn = connect(db).await;
    for user in [ALICE, BOB] {
        ironworx_tests::create_user(&conn, user, PASSWORD).await;
    }
    organizations::create_organization(
        &conn,
        ORG,
        &EntityFields::default(),
        &LoginPage {
            login_prompt: "Acme security administration".into(),
            ..LoginPage::default()
        },
    )
    .await
    .expect("organization");
    organizations::add_unit_member(&conn, ORG, ORG, "Administrator", MemberType::User)
        .await
        .expect("member");
    conn.close().await.expect("close");
    let admin = ("Administrator", ADMIN_PASSWORD);
    for (path, body) in [
        (
            "/Thingworx/Resources/EntityServices/Services/CreateThing",
            json!({"name": "Pump1", "thingTemplateName": "GenericThing"}),
        ),
        (
            "/Thingworx/Things/Pump1/Services/AddPropertyDefinition",
            json!({"name": "Temperature", "type": "NUMBER"}),
        ),
    ] {
        let (status, answer) = post_json(server, admin, path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
}

pub(super) struct Shots {
    dir: Option<PathBuf>,
}

impl Shots {
    pub(super) async fn take(&self, browser: &Client, name: &str) -> anyhow::Result<()> {
        if let Some(dir) = &self.dir {
            let png = browser.screenshot().await?;
            std::fs::write(dir.join(format!("{name}.png")), png)
                .with_context(|| format!("cannot save the screenshot {name}"))?;
        }
        Ok(())
    }
}

pub(super) async fn fill(browser: &Client, id: &str, text: &str) -> anyhow::Result<()> {
    let field = browser.find(Locator::Id(id)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

pub(super) async fn choose(browser: &Client, id: &str, value: &str) -> anyhow::Result<()> {
    browser
        .find(Locator::Id(id))
        .await?
        .select_by_value(value)
        .await?;
    Ok(())
}

/// Clicks `#id` once it is on the page (a page still loading is waited for).
pub(super) async fn click(browser: &Client, id: &str) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..50 {
        match browser
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Id(id))
            .await
        {
            Ok(element) => match element.click().await {
                Ok(()) => return Ok(()),
                Err(err) => last = Some(anyhow::Error::from(err)),
            },
            Err(err) => last = Some(anyhow::Error::from(err)),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("cannot click #{id}")))
}

/// The text of `#id` once `done` accepts it (pages load after a click); the last text seen
/// otherwise.
pub(super) async fn text_until(
    browser: &Client,
    id: &str,
    done: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let mut text = String::new();
    for _ in 0..100 {
        if let Ok(element) = browser.find(Locator::Id(id)).await
            && let Ok(seen) = element.text().await
        {
            text = seen;
            if done(&text) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(text)
}

/// Adds a PropertyRead rule on Temperature in the editor of Pump1.
async fn add_rule(
    browser: &Client,
    server: &TestServer,
    principal: (&str, &str),
    effect: &str,
) -> anyhow::Result<String> {
    browser.goto(&server.url(THING)).await?;
    choose(browser, "rule-permission", "PropertyRead").await?;
    choose(browser, "rule-resource", "Temperature").await?;
    choose(browser, "rule-principal-type", principal.0).await?;
    fill(browser, "rule-principal", principal.1).await?;
    choose(browser, "rule-effect", effect).await?;
    click(browser, "rule-save").await?;
    text_until(browser, "page-message", |m| m.contains(principal.1)).await
}

async fn add_member(browser: &Client, name: &str) -> anyhow::Result<()> {
    fill(browser, "member-name", name).await?;
    click(browser, "member-add").await?;
    let expected = format!("Added User {name} to Operators.");
    let message = text_until(browser, "page-message", |m| m == expected).await?;
    ensure!(message == expected, "{message}");
    Ok(())
}

/// The administrator's flow.
async fn administrator(browser: &Client, server: &TestServer, shots: &Shots) -> anyhow::Result<()> {
    browser.set_window_size(1280, 900).await?;
    browser
        .goto(&server.url(&format!("/Thingworx/FormLogin/{ORG}")))
        .await?;
    shots.take(browser, "login").await?;
    sign_in(browser, "Administrator", ADMIN_PASSWORD).await?;
    click(browser, "console-link").await?;
    let title = text_until(browser, "page-title", |t| t == "Console").await?;
    ensure!(title == "Console", "{title}");
    shots.take(browser, "console").await?;

    // A group with two members.
    click(browser, "nav-groups").await?;
    fill(browser, "group-name", "Operators").await?;
    click(browser, "group-create").await?;
    let created = text_until(browser, "page-message", |m| m.starts_with("Created")).await?;
    ensure!(created == "Created group Operators.", "{created}");
    add_member(browser, ALICE).await?;
    add_member(browser, BOB).await?;
    shots.take(browser, "group").await?;

    // A form whose token is gone changes nothing.
    browser
        .goto(&server.url("/Thingworx/Console/Groups"))
        .await?;
    browser
        .execute(
            "document.querySelector('#group-create-form input[name=\"x-csrf-id\"]').remove()",
            Vec::new(),
        )
        .await?;
    fill(browser, "group-name", "Forged").await?;
    click(browser, "group-create").await?;
    let refused = text_until(browser, "error-message", |m| !m.is_empty()).await?;
    ensure!(refused.contains("nothing was changed"), "{refused}");
    browser
        .goto(&server.url("/Thingworx/Console/Groups"))
        .await?;
    let groups = text_of(browser, "group-list").await?;
    ensure!(
        groups.contains("Operators") && !groups.contains("Forged"),
        "{groups}"
    );
    shots.take(browser, "groups").await?;

    // PropertyRead for the group, through the editor; who can shows alice.
    let saved = add_rule(browser, server, ("Group", "Operators"), "allow").await?;
    ensure!(saved.starts_with("Saved allow PropertyRead"), "{saved}");
    shots.take(browser, "entity").await?;
    click(browser, "link-who-can").await?;
    choose(browser, "who-resource", "Temperature").await?;
    click(browser, "who-show").await?;
    // The page before the click also lists alice (on `*`): wait for the answer on Temperature.
    let alice = text_until(browser, "who-User-alice", |t| {
        t.starts_with("User alice yes")
    })
    .await?;
    ensure!(alice.starts_with("User alice yes"), "who can: {alice}");
    shots.take(browser, "who-can").await?;

    // A deny for alice: explain names it decisive.
    add_rule(browser, server, ("User", ALICE), "deny").await?;
    click(browser, "link-explain").await?;
    fill(browser, "explain-user", ALICE).await?;
    choose(browser, "explain-permission", "PropertyRead").await?;
    choose(browser, "explain-resource", "Temperature").await?;
    click(browser, "explain-ask").await?;
    let outcome = text_until(browser, "explain-outcome", |t| t.contains(ALICE)).await?;
    ensure!(outcome.ends_with("is denied"), "{outcome}");
    let decisive = text_of(browser, "decisive-step").await?;
    ensure!(
        decisive.contains("User alice") && decisive.contains("deny"),
        "{decisive}"
    );
    shots.take(browser, "explain").await?;

    // Removing bob: the preview shows what he loses; saving removes him.
    browser
        .goto(&server.url("/Thingworx/Console/Groups/Operators"))
        .await?;
    click(browser, "remove-User-bob").await?;
    let title = text_until(browser, "preview-title", |t| !t.is_empty()).await?;
    ensure!(title.starts_with("Removing User bob"), "{title}");
    let flips = text_of(browser, "flips").await?;
    ensure!(
        flips.contains("bob Things/Pump1 PropertyRead Temperature denied"),
        "{flips}"
    );
    shots.take(browser, "preview").await?;
    click(browser, "preview-save").await?;
    let removed = text_until(browser, "page-message", |m| m.starts_with("Removed")).await?;
    ensure!(removed == "Removed User bob from Operators.", "{removed}");

    // Every change is in the audit view.
    click(browser, "nav-audit").await?;
    let entries = text_of(browser, "audit-entries").await?;
    for action in [
        "CreateGroup",
        "AddMember",
        "AddRunTimePermission",
        "DeleteMember",
    ] {
        ensure!(
            entries.contains(action),
            "{action} missing from the audit view"
        );
    }
    ensure!(!entries.contains("Forged"), "the forged form left a trace");
    shots.take(browser, "audit").await?;
    browser
        .goto(&server.url("/Thingworx/Console/Entities"))
        .await?;
    text_of(browser, "entity-list").await?;
    shots.take(browser, "entities").await?;
    click(browser, "console-logout").await?;
    text_of(browser, "login-form").await?;
    Ok(())
}

/// A non-administrator: no administration actions, none reachable by URL.
async fn member(browser: &Client, server: &TestServer) -> anyhow::Result<()> {
    browser
        .goto(&server.url("/Thingworx/FormLogin/Everyone"))
        .await?;
    sign_in(browser, ALICE, PASSWORD).await?;
    click(browser, "console-link").await?;
    let user = text_until(browser, "console-user", |u| u == ALICE).await?;
    ensure!(user == ALICE, "{user}");
    for id in ["nav-groups", "nav-audit"] {
        ensure!(
            browser.find(Locator::Id(id)).await.is_err(),
            "alice sees #{id}"
        );
    }
    for path in [
        "/Thingworx/Console/Groups",
        "/Thingworx/Console/Audit",
        "/Thingworx/Console/Groups/Operators",
        &format!("{THING}/WhoCan"),
    ] {
        browser.goto(&server.url(path)).await?;
        let title = text_of(browser, "page-title").await?;
        ensure!(
            title == "Not allowed" || title == "Not found",
            "alice reached {path}: {title} ({})",
            path_of(browser).await?
        );
    }
    browser.goto(&server.url(THING)).await?;
    if browser.find(Locator::Id("page-title")).await.is_ok()
        && text_of(browser, "page-title").await? == "Things/Pump1"
    {
        ensure!(
            browser.find(Locator::Id("rule-form")).await.is_err(),
            "alice may edit rules"
        );
    }
    Ok(())
}

/// The flows run in turn, each in a fresh browser.
#[derive(Clone, Copy)]
enum Flow {
    Administrator,
    Member,
    Accounts,
}

#[tokio::test]
async fn administrator_manages_security_in_the_console() {
    let Some((chromedriver, chromium)) = browser_programs() else {
        return;
    };
    let (mut driver, webdriver) = start_chromedriver(&chromedriver)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    let mut screenshots = std::env::var(SCREENSHOTS_ENV).is_ok_and(|v| v == "1");
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[]).await;
        seed(&server, &db).await;
        let shots = Shots {
            dir: screenshots.then(|| {
                let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
                std::fs::create_dir_all(&dir).expect("docs/console");
                dir
            }),
        };
        screenshots = false;
        let mut outcome = Ok(());
        for flow in [Flow::Administrator, Flow::Member, Flow::Accounts] {
            let profile = tempfile::Builder::new()
                .prefix("ironworx-chromium-")
                .tempdir()
                .expect("profile directory");
            outcome = match open_browser(&webdriver, &chromium, profile.path()).await {
                Ok(browser) => {
                    let result = match flow {
                        Flow::Administrator => administrator(&browser, &server, &shots).await,
                        Flow::Member => member(&browser, &server).await,
                        Flow::Accounts => {
                            crate::console_accounts_browser::accounts(&browser, &server, &shots)
                                .await
                        }
                    };
                    if let Err(err) = browser.close().await {
                        eprintln!("warning: cannot close the browser: {err}");
                    }
                    result
                }
                Err(err) => Err(err),
            };
            if outcome.is_err() {
                break;
            }
        }
        if let Err(err) = outcome {
            driver.start_kill().ok();
            panic!("{backend}: {err:#}\nserver log:\n{}", server.stderr());
        }
        assert!(server.stop().await.success());
        db.drop_database().await;
    }
    driver.start_kill().ok();
    driver.wait().await.ok();
}
