//! The catalog's server and login routes: health, metadata, the login pages and the form login.
//! Listed with the rest by [`super::operations`].

use super::*;

/// The operations of this family, in the catalog's order.
pub(super) static OPERATIONS: &[Operation] = &[
    // --- server ------------------------------------------------------------------------------
    route(
        Method::Get,
        "/health",
        TAG_SERVER,
        "Liveness: 200 {\"status\":\"ok\"} while the process runs",
        Body::None,
        NONE,
        Output::Document,
        PUBLIC,
    ),
    route(
        Method::Get,
        "/ready",
        TAG_SERVER,
        "Readiness: 200 while the database answers, 503 otherwise",
        Body::None,
        NONE,
        Output::Document,
        PUBLIC,
    ),
    route(
        Method::Get,
        "/Thingworx/openapi.json",
        TAG_SERVER,
        "This document: every route and service, with the permission each needs",
        Body::None,
        NONE,
        Output::Document,
        PUBLIC,
    ),
    // --- login -------------------------------------------------------------------------------
    route(
        Method::Get,
        "/Thingworx/FormLogin",
        TAG_LOGIN,
        "The login page of the organization Everyone",
        Body::None,
        NONE,
        Output::Html,
        PUBLIC,
    ),
    route(
        Method::Get,
        "/Thingworx/FormLogin/{org}",
        TAG_LOGIN,
        "The login page of an organization (an unknown one shows the Everyone page)",
        Body::None,
        NONE,
        Output::Html,
        PUBLIC,
    ),
    route(
        Method::Post,
        "/Thingworx/action-login",
        TAG_LOGIN,
        "Signs in through an organization's page (its members only) and sets the session \
         cookie; needs the CSRF cookie and field",
        Body::Form,
        &[
            req("thingworx-form-userid", BaseType::String),
            req("thingworx-form-password", BaseType::Password),
            opt("OrganizationName", BaseType::OrganizationName),
            req("x-csrf-id", BaseType::String),
        ],
        Output::Redirect,
        PUBLIC,
    ),
    route(
        Method::Get,
        "/Thingworx/Home",
        TAG_LOGIN,
        "The landing page (HTML) for a signed-in caller; without a session a redirect to the \
         login page",
        Body::None,
        &[opt("org", BaseType::OrganizationName)],
        Output::Redirect,
        PUBLIC,
    ),
    route(
        Method::Post,
        "/Thingworx/Logout",
        TAG_LOGIN,
        "Ends the session and redirects to the login page; needs the CSRF field, the \
         header X-Requested-With or Content-Type: application/json",
        Body::Form,
        &[
            opt("x-csrf-id", BaseType::String),
            opt("OrganizationName", BaseType::OrganizationName),
        ],
        Output::Redirect,
        PUBLIC,
    ),
];
