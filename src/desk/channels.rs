//! Configured channels: the ways in an admin sets up. The first kind is a chat widget
//! site: its public key, the origins allowed to embed it, the secret the shop signs
//! its customers' identities with, and a greeting.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::agents::random_secret;
use super::{Desk, Error, Result, check_text};
use crate::store::now;
use entity::channel;

/// The kind of a widget site in `channel.kind`.
pub const WIDGET: &str = "widget";
/// Most origins one site may list.
pub const MAX_ORIGINS: usize = 20;
/// Longest greeting, in bytes.
pub const MAX_GREETING: usize = 1000;

/// A widget site's settings, kept as JSON in `channel.settings`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct WidgetSettings {
    /// Exact origins (`https://shop.example`) whose pages may open the widget.
    pub origins: Vec<String>,
    /// The first thing a visitor reads in the chat.
    pub greeting: Option<String>,
    /// Served as the demo shop at `/demo/shop`.
    #[serde(default)]
    pub demo: bool,
}

/// A new widget site as an admin describes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWidget {
    pub name: String,
    pub origins: Vec<String>,
    #[serde(default)]
    pub greeting: Option<String>,
}

/// A change to a widget site; absent fields stay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetChange {
    pub name: Option<String>,
    pub origins: Option<Vec<String>>,
    /// `null` removes the greeting.
    #[serde(default, deserialize_with = "super::contacts::some")]
    pub greeting: Option<Option<String>>,
    pub active: Option<bool>,
}

/// A widget site ready to serve: the row and its parsed settings.
#[derive(Clone, Debug)]
pub struct WidgetSite {
    pub channel: channel::Model,
    pub settings: WidgetSettings,
}

impl WidgetSite {
    /// True when a page from `origin` may open this site's widget.
    pub fn allows(&self, origin: &str) -> bool {
        self.settings
            .origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// The canonical form of an allowed origin: scheme, host and port, nothing else.
pub fn check_origin(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid("origins", format!("{raw:?} is not an origin: {why}"));
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("use http or https"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no path, query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no user name or password"));
    }
    Ok(url.origin().ascii_serialization())
}

fn check_settings(origins: &[String], greeting: Option<&str>) -> Result<Vec<String>> {
    if origins.is_empty() || origins.len() > MAX_ORIGINS {
        return Err(Error::invalid(
            "origins",
            format!("list between 1 and {MAX_ORIGINS} origins"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for o in origins {
        let o = check_origin(o)?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    if let Some(g) = greeting {
        check_text("greeting", g, MAX_GREETING)?;
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    check_text("name", name, 200)?;
    Ok(name.to_owned())
}

fn widget_site(channel: channel::Model) -> Result<WidgetSite> {
    let settings = serde_json::from_value(channel.settings.clone()).map_err(|e| {
        Error::Store(sea_orm::DbErr::Custom(format!(
            "channel {} has unreadable settings: {e}",
            channel.id
        )))
    })?;
    Ok(WidgetSite { channel, settings })
}

impl Desk {
    /// Creates a widget site; returns it with its secret, which is shown this once.
    pub async fn create_widget(&self, new: &NewWidget) -> Result<(WidgetSite, String)> {
        self.create_widget_with(new, false).await
    }

    /// Creates a widget site, optionally the one the demo shop page uses.
    pub async fn create_widget_with(
        &self,
        new: &NewWidget,
        demo: bool,
    ) -> Result<(WidgetSite, String)> {
        let name = check_name(&new.name)?;
        let origins = check_settings(&new.origins, new.greeting.as_deref())?;
        let secret = random_secret(32);
        let at = now();
        let settings = WidgetSettings {
            origins,
            greeting: new.greeting.clone().filter(|g| !g.trim().is_empty()),
            demo,
        };
        let row = channel::ActiveModel {
            kind: Set(WIDGET.into()),
            name: Set(name),
            key: Set(random_secret(12)),
            secret: Set(secret.clone()),
            token_key: Set(random_secret(32)),
            settings: Set(json!(settings)),
            active: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(self.store.db())
        .await?;
        Ok((
            WidgetSite {
                channel: row,
                settings,
            },
            secret,
        ))
    }

    /// Every configured channel, oldest first.
    pub async fn channels(&self) -> Result<Vec<channel::Model>> {
        Ok(channel::Entity::find()
            .order_by_asc(channel::Column::Id)
            .all(self.store.db())
            .await?)
    }

    pub async fn channel(&self, id: i64) -> Result<channel::Model> {
        channel::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("channel", id))
    }

    /// The active widget site with this public key.
    pub async fn widget_by_key(&self, key: &str) -> Result<Option<WidgetSite>> {
        if key.is_empty() || key.len() > 64 {
            return Ok(None);
        }
        channel::Entity::find()
            .filter(channel::Column::Key.eq(key))
            .filter(channel::Column::Kind.eq(WIDGET))
            .filter(channel::Column::Active.eq(true))
            .one(self.store.db())
            .await?
            .map(widget_site)
            .transpose()
    }

    /// The widget site the demo shop page embeds, if one was set up.
    pub async fn demo_widget(&self) -> Result<Option<WidgetSite>> {
        let rows = channel::Entity::find()
            .filter(channel::Column::Kind.eq(WIDGET))
            .filter(channel::Column::Active.eq(true))
            .order_by_asc(channel::Column::Id)
            .all(self.store.db())
            .await?;
        for row in rows {
            let site = widget_site(row)?;
            if site.settings.demo {
                return Ok(Some(site));
            }
        }
        Ok(None)
    }

    /// Changes a widget site's name, origins, greeting or whether it is active.
    pub async fn update_widget(&self, id: i64, change: &WidgetChange) -> Result<WidgetSite> {
        let site = widget_site(self.channel(id).await?)?;
        if site.channel.kind != WIDGET {
            return Err(Error::invalid("id", "not a widget site"));
        }
        let mut settings = site.settings;
        if let Some(origins) = &change.origins {
            settings.origins = check_settings(origins, None)?;
        }
        if let Some(greeting) = &change.greeting {
            if let Some(g) = greeting {
                check_text("greeting", g, MAX_GREETING)?;
            }
            settings.greeting = greeting.clone().filter(|g| !g.trim().is_empty());
        }
        let mut row = channel::ActiveModel {
            id: Set(id),
            settings: Set(json!(settings)),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(name) = &change.name {
            row.name = Set(check_name(name)?);
        }
        if let Some(active) = change.active {
            row.active = Set(active);
        }
        widget_site(row.update(self.store.db()).await?)
    }

    /// Replaces a channel's shared secret; the old one stops working at once.
    pub async fn rotate_channel_secret(&self, id: i64) -> Result<(channel::Model, String)> {
        self.channel(id).await?;
        let secret = random_secret(32);
        let row = channel::ActiveModel {
            id: Set(id),
            secret: Set(secret.clone()),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(self.store.db())
        .await?;
        Ok((row, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            check_origin("https://Shop.Example").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            check_origin("http://localhost:8080/").unwrap(),
            "http://localhost:8080"
        );
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://shop.example/path",
            "https://u:p@shop.example",
            "https://shop.example/?q",
        ] {
            assert!(check_origin(bad).is_err(), "{bad} accepted");
        }
    }
}
