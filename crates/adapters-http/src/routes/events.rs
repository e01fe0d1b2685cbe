//! The audit trail's wire forms (docs/api.md §9), shared by
//! `GET /api/auth/users/me/events` and `GET /api/admin/events`: the query
//! parameters and the page of events.

use actix_web::http::StatusCode;
use domain::{Action, Event, EventQuery, Username};
use serde::Serialize;
use utoipa::ToSchema;

use super::wire::Rfc3339;
use crate::{Envelope, FieldError, error::ApiError, extract::query_param};

/// One recorded event.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": 1042, "at": "2026-12-02T07:10:00Z", "action": "login.succeeded",
    "actor": "agent47", "subject": "agent47", "client_address": "203.0.113.9",
    "user_agent": "curl/8.5.0", "request_id": "3f2a9c1e-8d47-4b8e-a1f0-5c6d7e8f9a0b"}))]
pub(crate) struct EventBody<'a> {
    /// Increasing with time: newer events have larger ids.
    id: i64,
    #[schema(value_type = String, format = DateTime)]
    at: Rfc3339,
    /// What happened: `login.succeeded`, `login.failed`, `login.locked`,
    /// `token.refreshed`, `token.reuse_detected`, `session.logout`,
    /// `session.logout_all`, `session.revoked`, `password.changed`,
    /// `profile.updated`, `user.registered`, `admin.…`.
    action: &'a str,
    /// Who did it: the user themself, an administrator, or null for the
    /// system.
    actor: Option<&'a str>,
    /// The user it happened to.
    subject: Option<&'a str>,
    client_address: Option<&'a str>,
    user_agent: Option<&'a str>,
    /// The `X-Request-Id` of the request that caused it.
    request_id: Option<&'a str>,
}

impl<'a> From<&'a Event> for EventBody<'a> {
    fn from(event: &'a Event) -> Self {
        Self {
            id: event.id,
            at: Rfc3339(event.at),
            action: &event.action,
            actor: event.actor.as_deref(),
            subject: event.subject.as_deref(),
            client_address: event.origin.client_address.as_deref(),
            user_agent: event.origin.user_agent.as_deref(),
            request_id: event.origin.request_id.as_deref(),
        }
    }
}

/// A page of events, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventPage<'a> {
    events: Vec<EventBody<'a>>,
    /// The `before` of the next page: the id of this page's last event
    /// when the page is full, else null (there is no next page).
    next_before: Option<i64>,
}

/// The 200 answer: `events` as one page of at most `limit`.
pub(crate) fn page(events: &[Event], limit: u32) -> Envelope {
    let full = usize::try_from(limit).is_ok_and(|limit| events.len() >= limit);
    Envelope::new(StatusCode::OK)
        .data(EventPage {
            events: events.iter().map(EventBody::from).collect(),
            next_before: events.last().filter(|_| full).map(|event| event.id),
        })
        .bearer()
}

/// The page of the document's examples.
pub(crate) fn example_page() -> Envelope {
    let event = Event {
        id: 1042,
        at: 1_796_195_400,
        action: Action::LoginSucceeded.as_str().to_owned(),
        actor: Some("agent47".into()),
        subject: Some("agent47".into()),
        origin: domain::Origin::new(
            Some("203.0.113.9".into()),
            Some("curl/8.5.0"),
            Some("3f2a9c1e-8d47-4b8e-a1f0-5c6d7e8f9a0b"),
        ),
    };
    page(&[event], EventQuery::DEFAULT_LIMIT)
}

/// Which of the filters a route takes besides `limit` and `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filters {
    /// One's own events: `limit` and `before` only.
    Paging,
    /// Everyone's: `user` and `action` too.
    UserAndAction,
}

/// The events a query string asks for. Unknown parameters are ignored;
/// a bad value of a known one is 422 naming it (every bad one at once).
pub(crate) fn parse_query(query: &str, filters: Filters) -> Result<EventQuery, ApiError> {
    let mut errors = Vec::new();
    let limit = number(query, "limit", &mut errors, |limit: u32| {
        (1..=EventQuery::MAX_LIMIT).contains(&limit)
    })
    .unwrap_or(EventQuery::DEFAULT_LIMIT);
    let before = number(query, "before", &mut errors, |before: i64| before > 0);
    let (mut subject, mut action) = (None, None);
    if filters == Filters::UserAndAction {
        subject = text(query, "user", &mut errors, |raw| {
            Username::parse(raw).map_err(|error| error.to_string())
        });
        action = text(query, "action", &mut errors, |raw| {
            Action::from_name(raw).ok_or_else(|| "Not a known action.".to_owned())
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(EventQuery {
        current_account_only: false,
        subject,
        action,
        before,
        limit,
    })
}

/// The number `name` of `query`, if given and accepted by `valid`.
pub(crate) fn number<T: std::str::FromStr + Copy>(
    query: &str,
    name: &'static str,
    errors: &mut Vec<FieldError>,
    valid: impl Fn(T) -> bool,
) -> Option<T> {
    let parsed = query_param(query, name)?
        .ok()
        .and_then(|raw| raw.parse::<T>().ok())
        .filter(|value| valid(*value));
    if parsed.is_none() {
        errors.push(FieldError::new(name, number_message(name)));
    }
    parsed
}

fn number_message(name: &str) -> String {
    match name {
        "limit" => format!(
            "limit must be an integer from 1 to {}.",
            EventQuery::MAX_LIMIT
        ),
        "per_page" => format!(
            "per_page must be an integer from 1 to {}.",
            domain::UserQuery::MAX_PER_PAGE
        ),
        other => format!("{other} must be a positive integer."),
    }
}

/// The text parameter `name` of `query`, if given and accepted by `parse`.
pub(crate) fn text<T>(
    query: &str,
    name: &'static str,
    errors: &mut Vec<FieldError>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let outcome = match query_param(query, name)? {
        Ok(raw) => parse(&raw),
        Err(_) => Err(format!("{name} must be percent-encoded UTF-8.")),
    };
    outcome
        .map_err(|message| errors.push(FieldError::new(name, message)))
        .ok()
}

#[cfg(test)]
mod tests {
    use domain::Origin;

    use super::*;

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation(details) => details.into_iter().map(|d| d.field).collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    fn event(id: i64) -> Event {
        Event {
            id,
            at: 0,
            action: "login.succeeded".into(),
            actor: None,
            subject: None,
            origin: Origin::default(),
        }
    }

    #[test]
    fn paging_defaults_to_50_from_the_newest() {
        let query = parse_query("", Filters::Paging).unwrap();
        assert_eq!((query.limit, query.before), (50, None));
        let query = parse_query("limit=200&before=7&x=%zz", Filters::Paging).unwrap();
        assert_eq!((query.limit, query.before), (200, Some(7)));
    }

    #[test]
    fn bad_paging_values_are_422_naming_each_field() {
        for (raw, expected) in [
            ("limit=0", vec!["limit"]),
            ("limit=201", vec!["limit"]),
            ("limit=ten", vec!["limit"]),
            ("limit=", vec!["limit"]),
            ("before=0", vec!["before"]),
            ("before=-3", vec!["before"]),
            ("before=%FF", vec!["before"]),
            ("limit=-1&before=x", vec!["limit", "before"]),
        ] {
            let error = parse_query(raw, Filters::Paging).unwrap_err();
            assert_eq!(fields(error), expected, "{raw}");
        }
    }

    #[test]
    fn user_and_action_filters_are_checked_where_taken_and_ignored_elsewhere() {
        let query =
            parse_query("user=agent47&action=login.failed", Filters::UserAndAction).unwrap();
        assert_eq!(query.subject.unwrap().as_ref(), "agent47");
        assert_eq!(query.action, Some(Action::LoginFailed));
        let error = parse_query("user=a%20b&action=login.nope", Filters::UserAndAction);
        assert_eq!(fields(error.unwrap_err()), ["user", "action"]);
        let own = parse_query("user=a%20b&action=login.nope", Filters::Paging).unwrap();
        assert_eq!((own.subject, own.action), (None, None));
    }

    #[test]
    fn a_full_page_names_the_next_before_and_a_short_one_does_not() {
        let full = page(&[event(9), event(5)], 2).to_value();
        assert_eq!(full["data"]["next_before"], 5);
        assert_eq!(full["data"]["events"][1]["id"], 5);
        let short = page(&[event(9)], 2).to_value();
        assert_eq!(short["data"]["next_before"], serde_json::Value::Null);
        let empty = page(&[], 2).to_value();
        assert_eq!(
            empty["data"],
            serde_json::json!({"events": [], "next_before": null})
        );
    }
}
