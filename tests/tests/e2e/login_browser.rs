//! Form login in a real browser: headless Chromium driven through chromedriver (WebDriver)
//! opens two organizations' login pages, is refused on the one its user does not belong to,
//! signs in on the other, lands on the landing page and signs out.
//!
//! Without `chromium` and `chromedriver` on the machine the test says so and passes, unless
//! `IRONWORX_REQUIRE_BROWSER` is set: then it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use ironworx_entity::queries::entities::EntityFields;
use ironworx_entity::queries::organizations::{self, LoginPage};
use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
use ironworx_entity::vocab::MemberType;
use ironworx_tests::{TestDb, TestServer, backends, connect};
use sea_orm::DatabaseConnection;
use tokio::process::{Child, Command};

/// Set (to anything) to make a missing browser a failure instead of a skip.
const REQUIRE_ENV: &str = "IRONWORX_REQUIRE_BROWSER";

const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice-password-1";
const ORG_A: &str = "Alpha";
const ORG_B: &str = "Bravo";
const PROMPT_A: &str = "Alpha staff only <b>please</b>";
const PROMPT_B: &str = "Welcome to Bravo & friends";

/// How long the browser may take to show an element after a navigation.
pub(super) const WAIT: Duration = Duration::from_secs(20);

/// The first executable called one of `names` on `PATH`.
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// ChromeDriver and Chromium, when both are installed; `None` (the test skips, saying so)
/// when they are not, unless [`REQUIRE_ENV`] makes that a failure.
pub(super) fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    let chromedriver = find_program(&["chromedriver"]);
    let chromium = find_program(&["chromium", "chromium-browser"]);
    let (Some(chromedriver), Some(chromium)) = (chromedriver, chromium) else {
        if std::env::var_os(REQUIRE_ENV).is_some() {
            panic!("{REQUIRE_ENV} is set but chromium/chromedriver is not installed");
        }
        eprintln!("skipping browser test: chromium/chromedriver not installed");
        return None;
    };
    Some((chromedriver, chromium))
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts chromedriver on a free port and waits until it answers.
pub(super) async fn start_chromedriver(binary: &Path) -> anyhow::Result<(Child, String)> {
    let port = free_port()?;
    let mut child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let url = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    for _ in 0..100 {
        if let Some(status) = child.try_wait()? {
            bail!("chromedriver exited at once: {status}");
        }
        if probe
            .get(format!("{url}/status"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok((child, url));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.start_kill().ok();
    bail!("chromedriver did not answer on {url}")
}

/// A WebDriver session in headless Chromium with a fresh profile.
pub(super) async fn open_browser(
    webdriver: &str,
    chromium: &Path,
    profile: &Path,
) -> anyhow::Result<Client> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": chromium.to_string_lossy(),
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await
        .context("cannot open a WebDriver session")
}

async fn seed(db: &DatabaseConnection) {
    let hash = ironworx_server::auth::hashing::hash_password(ALICE_PASSWORD).expect("hash");
    users::create_user(
        db,
        &NewUser {
            name: ALICE.into(),
            password: Some(PasswordRecord::argon2id(hash)),
            ..NewUser::default()
        },
    )
    .await
    .expect("user");
    for (org, prompt, member) in [(ORG_A, PROMPT_A, true), (ORG_B, PROMPT_B, false)] {
        organizations::create_organization(
            db,
            org,
            &EntityFields::default(),
            &LoginPage {
                login_prompt: prompt.into(),
                ..LoginPage::default()
            },
        )
        .await
        .expect("organization");
        if member {
            organizations::add_unit_member(db, org, org, ALICE, MemberType::User)
                .await
                .expect("member");
        }
    }
}

pub(super) async fn text_of(browser: &Client, id: &str) -> anyhow::Result<String> {
    match browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id(id))
        .await
    {
        Ok(element) => Ok(element.text().await?),
        Err(err) => {
            let page = path_of(browser).await.unwrap_or_default();
            let source = browser.source().await.unwrap_or_default();
            bail!("no element #{id} on {page}: {err}\n{source}")
        }
    }
}

pub(super) async fn path_of(browser: &Client) -> anyhow::Result<String> {
    let url = browser.current_url().await?;
    Ok(match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    })
}

/// Fills and submits the login form on the current page.
pub(super) async fn sign_in(browser: &Client, user: &str, password: &str) -> anyhow::Result<()> {
    browser
        .find(Locator::Id("userid"))
        .await?
        .send_keys(user)
        .await?;
    browser
        .find(Locator::Id("password"))
        .await?
        .send_keys(password)
        .await?;
    browser
        .find(Locator::Id("login-button"))
        .await?
        .click()
        .await?;
    Ok(())
}

/// The scenario, on a server with [`seed`] applied.
async fn scenario(browser: &Client, server: &TestServer) -> anyhow::Result<()> {
    // Each organization's page shows its own prompt, as text (the markup in it is escaped).
    browser
        .goto(&server.url("/Thingworx/FormLogin/Alpha"))
        .await?;
    ensure!(text_of(browser, "login-prompt").await? == PROMPT_A);
    ensure!(text_of(browser, "organization").await? == ORG_A);
    browser
        .goto(&server.url("/Thingworx/FormLogin/Bravo"))
        .await?;
    ensure!(text_of(browser, "login-prompt").await? == PROMPT_B);

    // alice is not a member of Bravo: refused, still on a login page, no session.
    sign_in(browser, ALICE, ALICE_PASSWORD).await?;
    let message = text_of(browser, "login-message").await?;
    ensure!(
        message.contains("not a member of organization Bravo"),
        "refusal message: {message}"
    );
    ensure!(browser.find(Locator::Id("login-form")).await.is_ok());

    // On Alpha she signs in and lands on the landing page.
    browser
        .goto(&server.url("/Thingworx/FormLogin/Alpha"))
        .await?;
    sign_in(browser, ALICE, ALICE_PASSWORD).await?;
    let signed_in = text_of(browser, "signed-in").await?;
    ensure!(
        signed_in == "Signed in as alice (Alpha)",
        "landing page says: {signed_in}"
    );
    let path = path_of(browser).await?;
    ensure!(path.starts_with("/Thingworx/Home"), "landed on {path}");

    // Signing out returns to Alpha's login page, and the landing page then wants a login.
    browser
        .find(Locator::Id("logout-button"))
        .await?
        .click()
        .await?;
    ensure!(text_of(browser, "login-prompt").await? == PROMPT_A);
    let path = path_of(browser).await?;
    ensure!(path == "/Thingworx/FormLogin/Alpha", "after logout: {path}");
    browser.goto(&server.url("/Thingworx/Home")).await?;
    text_of(browser, "login-form").await?;
    let path = path_of(browser).await?;
    ensure!(
        path == "/Thingworx/FormLogin/Everyone",
        "the ended session still opens the landing page: {path}"
    );
    Ok(())
}

#[tokio::test]
async fn browser_signs_in_per_organization_and_out() {
    let Some((chromedriver, chromium)) = browser_programs() else {
        return;
    };

    let (mut driver, webdriver) = start_chromedriver(&chromedriver)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let server = TestServer::start(&db, &[("IRONWORX_PASSWORD_MIN_LENGTH", "8")]).await;
        let conn = connect(&db).await;
        seed(&conn).await;

        let profile = tempfile::Builder::new()
            .prefix("ironworx-chromium-")
            .tempdir()
            .expect("profile directory");
        let outcome = match open_browser(&webdriver, &chromium, profile.path()).await {
            Ok(browser) => {
                let outcome = scenario(&browser, &server).await;
                // Always end the session, so that no browser outlives the test.
                if let Err(err) = browser.close().await {
                    eprintln!("warning: cannot close the browser: {err}");
                }
                outcome
            }
            Err(err) => Err(err),
        };
        if let Err(err) = outcome {
            driver.start_kill().ok();
            panic!("{backend}: {err:#}\nserver log:\n{}", server.stderr());
        }

        assert!(server.stop().await.success());
        conn.close().await.expect("close");
        db.drop_database().await;
    }
    driver.start_kill().ok();
    driver.wait().await.ok();
}
