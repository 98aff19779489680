//! `/survey/{token}`: the public satisfaction survey page a customer reaches by the
//! signed link in the survey message (no login). Server-rendered, escaped HTML in
//! English or German by `Accept-Language`, under a strict CSP, usable without
//! JavaScript; the answer is a plain form POST. The chat widget posts its inline
//! rating to the same address and asks for JSON.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::desk::Error;
use crate::desk::feedback::MAX_COMMENT;
use crate::desk::surveys::{LinkState, SurveyForm};

/// The pages' policy: our stylesheet, forms to us, nothing else.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages' stylesheet, served at `/survey.css`.
const CSS: &str = "\
:root{color-scheme:light dark;font-family:system-ui,sans-serif;line-height:1.5}
body{margin:0;padding:2rem 1rem;background:Canvas;color:CanvasText}
main{max-width:34rem;margin:0 auto}
h1{font-size:1.5rem;margin:0 0 .5rem}
fieldset{border:0;padding:0;margin:1.25rem 0}
legend{font-weight:600;margin-bottom:.5rem}
.rating{display:flex;flex-wrap:wrap;gap:.5rem}
.rating label{display:inline-flex;align-items:center;gap:.35rem;padding:.45rem .7rem;border:1px solid GrayText;border-radius:.4rem;cursor:pointer}
.rating input:focus-visible+span{outline:2px solid Highlight;outline-offset:2px}
textarea{width:100%;box-sizing:border-box;font:inherit;padding:.5rem}
button{font:inherit;padding:.55rem 1.2rem;margin-top:1rem;cursor:pointer}
button:focus-visible,textarea:focus-visible,a:focus-visible{outline:2px solid Highlight;outline-offset:2px}
.error{border-left:4px solid #c0392b;padding:.25rem .75rem}
.quote{white-space:pre-wrap;border-left:4px solid GrayText;padding:.25rem .75rem}
";

/// The language of the pages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lang {
    En,
    De,
}

/// The visitor's preferred language of the two the pages speak (by `q`, then order).
fn lang(headers: &HeaderMap) -> Lang {
    let Some(raw) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Lang::En;
    };
    let mut best: Option<(f32, Lang)> = None;
    for part in raw.split(',') {
        let mut bits = part.split(';');
        let tag = bits.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = bits
            .find_map(|b| {
                b.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        let l = match primary {
            "de" => Lang::De,
            "en" => Lang::En,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, l));
        }
    }
    best.map(|(_, l)| l).unwrap_or(Lang::En)
}

/// Text for HTML: every character that could start markup escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The words of the pages, in one language.
struct Texts {
    lang: &'static str,
    title: &'static str,
    about: &'static str,
    legend: &'static str,
    scale: [&'static str; 5],
    comment: &'static str,
    send: &'static str,
    change_intro: &'static str,
    thanks_title: &'static str,
    thanks: &'static str,
    you_wrote: &'static str,
    change_until: &'static str,
    change_link: &'static str,
    unknown_title: &'static str,
    unknown: &'static str,
    expired_title: &'static str,
    expired: &'static str,
    used_title: &'static str,
    used: &'static str,
    pick_rating: &'static str,
    too_long: &'static str,
    foreign_title: &'static str,
    foreign: &'static str,
    trouble_title: &'static str,
    trouble: &'static str,
}

const EN: Texts = Texts {
    lang: "en",
    title: "How did we do?",
    about: "Your request",
    legend: "Your rating",
    scale: [
        "1 – very poor",
        "2 – poor",
        "3 – okay",
        "4 – good",
        "5 – excellent",
    ],
    comment: "Anything you would like to tell us? (optional)",
    send: "Send",
    change_intro: "You can change your answer below.",
    thanks_title: "Thank you!",
    thanks: "Your answer was recorded.",
    you_wrote: "You wrote:",
    change_until: "Changed your mind? You can change your answer until",
    change_link: "Change my answer",
    unknown_title: "Link not valid",
    unknown: "This survey link is not valid. Please use the link exactly as you received it.",
    expired_title: "Survey closed",
    expired: "This survey link has expired. Thank you for your interest.",
    used_title: "Answer recorded",
    used: "This link was used already; your answer was recorded. To change it, use the link on the page shown after answering.",
    pick_rating: "Please choose a rating from 1 to 5.",
    too_long: "Your comment is too long (at most 2000 characters).",
    foreign_title: "Not accepted",
    foreign: "Answers are only accepted from this page.",
    trouble_title: "Please try again",
    trouble: "Your answer could not be saved just now. Please try again in a moment.",
};

const DE: Texts = Texts {
    lang: "de",
    title: "Wie zufrieden waren Sie?",
    about: "Ihre Anfrage",
    legend: "Ihre Bewertung",
    scale: [
        "1 – sehr schlecht",
        "2 – schlecht",
        "3 – in Ordnung",
        "4 – gut",
        "5 – sehr gut",
    ],
    comment: "Möchten Sie uns noch etwas sagen? (freiwillig)",
    send: "Absenden",
    change_intro: "Unten können Sie Ihre Antwort ändern.",
    thanks_title: "Vielen Dank!",
    thanks: "Ihre Antwort wurde gespeichert.",
    you_wrote: "Sie schrieben:",
    change_until: "Anders überlegt? Sie können Ihre Antwort ändern bis",
    change_link: "Antwort ändern",
    unknown_title: "Link ungültig",
    unknown: "Dieser Umfrage-Link ist ungültig. Bitte verwenden Sie den Link genau so, wie Sie ihn erhalten haben.",
    expired_title: "Umfrage beendet",
    expired: "Dieser Umfrage-Link ist abgelaufen. Danke für Ihr Interesse.",
    used_title: "Antwort gespeichert",
    used: "Dieser Link wurde bereits verwendet; Ihre Antwort ist gespeichert. Zum Ändern nutzen Sie den Link auf der Seite, die nach dem Antworten erschien.",
    pick_rating: "Bitte wählen Sie eine Bewertung von 1 bis 5.",
    too_long: "Ihr Kommentar ist zu lang (höchstens 2000 Zeichen).",
    foreign_title: "Nicht angenommen",
    foreign: "Antworten werden nur von dieser Seite angenommen.",
    trouble_title: "Bitte erneut versuchen",
    trouble: "Ihre Antwort konnte gerade nicht gespeichert werden. Bitte versuchen Sie es gleich noch einmal.",
};

fn texts(l: Lang) -> &'static Texts {
    match l {
        Lang::En => &EN,
        Lang::De => &DE,
    }
}

/// A whole page with our headers: strict CSP, never cached, never framed.
fn page(status: StatusCode, t: &Texts, title: &str, body: &str) -> Response {
    // `same-origin` lets the form's POST carry our Origin (the desk's `no-referrer`
    // would make it `null`) while no other site learns the link.
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"same-origin\">\
<meta name=\"robots\" content=\"noindex\">\
<title>{title}</title><link rel=\"stylesheet\" href=\"/survey.css\"></head>\
<body><main>{body}</main></body></html>\n",
        lang = t.lang,
        title = escape(title),
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (status, headers, html).into_response()
}

/// A page that only says something.
fn notice(status: StatusCode, t: &Texts, title: &str, text: &str) -> Response {
    page(
        status,
        t,
        title,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text)),
    )
}

/// The page of a link that is no good; forged and unknown links look the same.
fn link_page(t: &Texts, state: &LinkState) -> Response {
    match state {
        LinkState::Unknown => notice(StatusCode::NOT_FOUND, t, t.unknown_title, t.unknown),
        LinkState::Expired => notice(StatusCode::GONE, t, t.expired_title, t.expired),
        LinkState::Used => notice(StatusCode::GONE, t, t.used_title, t.used),
    }
}

fn trouble(t: &Texts, e: Error) -> Response {
    tracing::error!("survey page: {e}");
    notice(
        StatusCode::SERVICE_UNAVAILABLE,
        t,
        t.trouble_title,
        t.trouble,
    )
}

/// The survey form, with the answer given so far or the one just refused. Once an
/// answer is recorded the page (the one an answer redirects to) thanks the customer,
/// shows what they wrote and until when the form below may change it.
#[allow(clippy::too_many_arguments)]
fn form_page(
    status: StatusCode,
    t: &Texts,
    l: Lang,
    token: &str,
    form: &SurveyForm,
    rating: Option<i32>,
    comment: Option<&str>,
    error: Option<&str>,
) -> Response {
    let mut body = String::new();
    if form.rating.is_some() {
        body.push_str(&format!(
            "<h1>{}</h1><p>{}</p>",
            escape(t.thanks_title),
            escape(t.thanks)
        ));
        if let Some(c) = &form.comment {
            body.push_str(&format!(
                "<p>{}</p><p class=\"quote\">{}</p>",
                escape(t.you_wrote),
                escape(c)
            ));
        }
        let until = match l {
            Lang::De => form.expires_at.format("%d.%m.%Y %H:%M UTC"),
            Lang::En => form.expires_at.format("%Y-%m-%d %H:%M UTC"),
        };
        body.push_str(&format!(
            "<p>{} {until}.</p><h2>{}</h2><p>{} #{} – {}</p><p>{}</p>",
            escape(t.change_until),
            escape(t.change_link),
            escape(t.about),
            form.ticket_number,
            escape(&form.ticket_subject),
            escape(t.change_intro)
        ));
    } else {
        body.push_str(&format!(
            "<h1>{}</h1><p>{} #{} – {}</p>",
            escape(t.title),
            escape(t.about),
            form.ticket_number,
            escape(&form.ticket_subject),
        ));
    }
    if let Some(e) = error {
        body.push_str(&format!(
            "<p class=\"error\" role=\"alert\" id=\"error\">{}</p>",
            escape(e)
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/survey/{}\"><fieldset><legend>{}</legend><div class=\"rating\">",
        escape(token),
        escape(t.legend)
    ));
    for (i, label) in t.scale.iter().enumerate() {
        let value = i as i32 + 1;
        let checked = if rating == Some(value) {
            " checked"
        } else {
            ""
        };
        let first = if i == 0 { " required" } else { "" };
        body.push_str(&format!(
            "<label><input type=\"radio\" name=\"rating\" value=\"{value}\"{checked}{first}><span>{}</span></label>",
            escape(label)
        ));
    }
    body.push_str(&format!(
        "</div></fieldset><label for=\"comment\">{}</label>\
<textarea id=\"comment\" name=\"comment\" rows=\"5\" maxlength=\"{MAX_COMMENT}\">{}</textarea>\
<button type=\"submit\">{}</button></form>",
        escape(t.comment),
        escape(comment.unwrap_or("")),
        escape(t.send),
    ));
    page(status, t, t.title, &body)
}

/// `GET /survey.css`: the pages' stylesheet.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        CSS,
    )
        .into_response()
}

/// `GET /survey/{token}`: the survey form, or why the link is no good.
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let l = lang(&headers);
    let t = texts(l);
    match state.desk.survey_link(&token).await {
        Ok(Ok(form)) => form_page(
            StatusCode::OK,
            t,
            l,
            &token,
            &form,
            form.rating,
            form.comment.as_deref(),
            None,
        ),
        Ok(Err(link)) => link_page(t, &link),
        Err(e) => trouble(t, e),
    }
}

/// The fields of the answer form.
fn form_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let mut rating = None;
    let mut comment = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "rating" if rating.is_none() => rating = Some(v.into_owned()),
            "comment" if comment.is_none() => comment = Some(v.into_owned()),
            _ => {}
        }
    }
    (rating, comment)
}

/// A JSON answer for the widget, readable by the page of `origin`.
fn widget_reply(status: StatusCode, origin: Option<&str>, body: serde_json::Value) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (status, headers, axum::Json(body)).into_response()
}

/// `POST /survey/{token}`: records the answer (`rating`, optional `comment`, as a
/// form). From our own page (or without an Origin) the answer is a page; the chat
/// widget of a site the ticket came through sends `Accept: application/json` and
/// gets JSON. Posts from any other origin are refused.
pub async fn answer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let l = lang(&headers);
    let t = texts(l);
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let own = state.config.public_origin();
    let widget_origin = match origin {
        Some(o) if !o.eq_ignore_ascii_case(&own) => {
            match state.desk.survey_origin_allowed(&token, o).await {
                Ok(true) => Some(o),
                Ok(false) => {
                    return if wants_json {
                        widget_reply(
                            StatusCode::FORBIDDEN,
                            None,
                            json!({"error": "origin", "detail": "this origin may not answer this survey"}),
                        )
                    } else {
                        notice(StatusCode::FORBIDDEN, t, t.foreign_title, t.foreign)
                    };
                }
                Err(e) => return trouble(t, e),
            }
        }
        _ => None,
    };
    let (raw_rating, comment) = form_fields(&body);
    let rating = raw_rating
        .as_deref()
        .and_then(|r| r.trim().parse::<i32>().ok())
        .filter(|r| (1..=5).contains(r));
    if wants_json {
        let Some(rating) = rating else {
            return widget_reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                widget_origin,
                json!({"error": "invalid", "field": "rating", "detail": "rating: expected 1 to 5"}),
            );
        };
        return match state
            .desk
            .answer_survey(&token, rating, comment.as_deref())
            .await
        {
            Ok(Ok(a)) => widget_reply(
                StatusCode::OK,
                widget_origin,
                json!({"rating": a.feedback.rating, "change_url": a.change_url, "change_until": a.change_until}),
            ),
            Ok(Err(link)) => {
                let (status, code) = match link {
                    LinkState::Unknown => (StatusCode::NOT_FOUND, "unknown"),
                    LinkState::Expired => (StatusCode::GONE, "expired"),
                    LinkState::Used => (StatusCode::GONE, "used"),
                };
                widget_reply(status, widget_origin, json!({"error": code}))
            }
            Err(Error::Invalid { field, message }) => widget_reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                widget_origin,
                json!({"error": "invalid", "field": field, "detail": format!("{field}: {message}")}),
            ),
            Err(e) => {
                tracing::error!("survey answer: {e}");
                widget_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    widget_origin,
                    json!({"error": "unavailable"}),
                )
            }
        };
    }
    // The form again, with what was sent and why it was refused.
    let (desk, tok, sent) = (&state.desk, token.as_str(), comment.as_deref());
    let refuse = move |message: &'static str| async move {
        match desk.survey_link(tok).await {
            Ok(Ok(form)) => form_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                t,
                l,
                tok,
                &form,
                rating,
                sent,
                Some(message),
            ),
            Ok(Err(link)) => link_page(t, &link),
            Err(e) => trouble(t, e),
        }
    };
    let Some(rating) = rating else {
        return refuse(t.pick_rating).await;
    };
    match state
        .desk
        .answer_survey(&token, rating, comment.as_deref())
        .await
    {
        // To the page of the new link: a reload shows the recorded answer again
        // instead of posting the used link once more.
        Ok(Ok(a)) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, format!("/survey/{}", a.change_token)),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
        )
            .into_response(),
        Ok(Err(link)) => link_page(t, &link),
        Err(Error::Invalid { field, .. }) if field == "comment" => refuse(t.too_long).await,
        Err(Error::Invalid { .. }) => refuse(t.pick_rating).await,
        Err(e) => trouble(t, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        let h = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(lang(&HeaderMap::new()), Lang::En);
        assert_eq!(lang(&h("de-DE,de;q=0.9,en;q=0.8")), Lang::De);
        assert_eq!(lang(&h("fr-FR, en;q=0.5, de;q=0.7")), Lang::De);
        assert_eq!(lang(&h("en-US,de;q=0.5")), Lang::En);
        assert_eq!(lang(&h("fr")), Lang::En);
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
