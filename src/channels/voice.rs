//! Phone calls: the generic CTI event format PBX scripts already speak for other
//! helpdesks (sipgate, placetel, Asterisk): `event` newCall, answer or hangup, `callId`,
//! `from`, `to`, `direction`, `user` (repeatable, also as `user[]`), `queue`,
//! `answeringNumber`, `cause`; as JSON or form-encoded.

use serde_json::Value;

use crate::desk::Error;
use crate::desk::calls::CtiEvent;

/// Why a body is no call event.
#[derive(Debug)]
pub enum Unreadable {
    /// Not JSON or a form at all.
    Body(String),
    /// A field with a value the format does not have.
    Field(Error),
}

/// Reads an event from JSON (`json`) or a form, naming the field at fault.
pub fn read(json: bool, body: &[u8]) -> Result<CtiEvent, Unreadable> {
    let pairs: Vec<(String, String)> = if json {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| Unreadable::Body(format!("not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Unreadable::Body("not a JSON object".into()))?;
        obj.iter()
            .flat_map(|(k, v)| match v {
                Value::Array(items) => items.iter().map(|i| (k.clone(), text(i))).collect(),
                other => vec![(k.clone(), text(other))],
            })
            .collect()
    } else {
        serde_urlencoded::from_bytes(body)
            .map_err(|e| Unreadable::Body(format!("not a form: {e}")))?
    };
    let mut e = CtiEvent::default();
    for (key, value) in pairs {
        match key.trim_end_matches("[]") {
            "event" => e.event = Some(value.parse().map_err(Unreadable::Field)?),
            "callId" => e.call_id = value,
            "from" => e.from = value,
            "to" => e.to = value,
            "direction" => e.direction = Some(value.parse().map_err(Unreadable::Field)?),
            "user" if !value.is_empty() => e.user.push(value),
            "queue" => e.queue = Some(value),
            "answeringNumber" => e.answering_number = Some(value),
            "cause" => e.cause = Some(value),
            _ => {}
        }
    }
    Ok(e)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
