//! The web page: server-rendered HTML plus one script and one stylesheet, all compiled into the
//! binary so the page works offline and never loads anything from a CDN.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::classifier::ModelKind;
use crate::error::ServeError;
use crate::state::AppState;

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const ENROLL_SCRIPT: &str = include_str!("../assets/enroll.js");
const STYLE: &str = include_str!("../assets/style.css");
const FAVICON: &str = concat!(
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 64 64'>",
    "<path d='M4 40c8 0 14-4 18-14l8 4c6 3 14 6 22 7 6 1 8 5 8 9v4H4z' fill='#1f5fd1'/>",
    "<rect x='4' y='48' width='56' height='6' rx='2' fill='#1b1b1f'/></svg>"
);

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// Every command the page shows, each a whole `sneaker-id` command line (the CLI's tests parse
/// them with the real argument parser, so the page never suggests one that does not exist).
pub const PAGE_COMMANDS: &[&str] = &[
    "sneaker-id serve --catalog my-sneakers",
    "sneaker-id train --data my-sneakers --model bottleneck --out runs/first",
    "sneaker-id serve --model runs/first --catalog my-sneakers",
];

/// The note shown when no trained run is loaded: what works now and how to get more.
fn untrained_notice() -> String {
    let commands: Vec<String> = PAGE_COMMANDS.iter().map(|c| escape(c)).collect();
    format!(
        concat!(
            "  <div class=\"notice\" id=\"notice\">\n",
            "    <p><strong>No trained sneaker model is loaded.</strong> This server names the sneakers in its ",
            "gallery from the pretrained network's features: use <a href=\"#enroll\">Add a sneaker</a> below ",
            "with a few photos of a product, and the next photo of it is named. It also tells when a photo ",
            "shows no shoe at all.</p>\n",
            "    <p>Have a catalog (a folder with one sub-folder of photos per sneaker, or a scraped one)? ",
            "Serve its products at once, or train a model on it:</p>\n",
            "<pre><code>{}</code></pre>\n",
            "  </div>"
        ),
        commands.join("\n")
    )
}

/// `GET /`.
pub async fn index(State(state): State<AppState>) -> Html<String> {
    let info = state.batcher.info();
    let config = &state.config;
    let mut name = info.name.clone();
    if let Some(run) = &info.run_id {
        name.push_str(&format!(" — run {run}"));
    }
    let notice = match info.kind {
        ModelKind::Imagenet => untrained_notice(),
        ModelKind::Trained => String::new(),
    };
    let options: String = [1, 3, 5, 10, 20]
        .into_iter()
        .filter(|&k| k <= config.max_top_k)
        .map(|k| {
            let selected = if k == config.default_top_k { " selected" } else { "" };
            format!("<option value=\"{k}\"{selected}>{k}</option>")
        })
        .collect();
    let enrollment = state.gallery.enrollment_enabled();
    let kind = match info.kind {
        ModelKind::Imagenet => "imagenet",
        ModelKind::Trained => "trained",
    };
    let (bg_disabled, bg_note) = if state.background_removal {
        ("", "")
    } else {
        (" disabled", " <small>(not available in this build)</small>")
    };
    let html = INDEX
        .replace("{{MODEL_KIND}}", kind)
        .replace("{{DEFAULT_TOP_K}}", &config.default_top_k.to_string())
        .replace("{{MAX_TOP_K}}", &config.max_top_k.to_string())
        .replace("{{MODEL_NAME}}", &escape(&name))
        .replace("{{NOTICE}}", &notice)
        .replace("{{BODY_LIMIT_MB}}", &(config.body_limit / (1024 * 1024)).to_string())
        // The decoder's own list, so the page never promises less (or more) than it decodes.
        .replace("{{FORMATS}}", sneaker_vision::SUPPORTED_FORMATS)
        .replace("{{BG_DISABLED}}", bg_disabled)
        .replace("{{BG_NOTE}}", bg_note)
        .replace("{{TOP_K_OPTIONS}}", &options)
        .replace("{{ENROLL_HIDDEN}}", if enrollment { "" } else { " hidden" })
        .replace("{{MAX_ENROLL_PHOTOS}}", &crate::config::MAX_ENROLL_PHOTOS.to_string());
    Html(html)
}

/// `GET /assets/{file}`: the script and the stylesheet.
pub async fn asset(Path(file): Path<String>) -> Result<Response, ServeError> {
    let (body, mime) = match file.as_str() {
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "enroll.js" => (ENROLL_SCRIPT, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return Err(ServeError::NotFound(format!("no asset named {file}"))),
    };
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(mime))], body).into_response())
}

/// Largest catalog photo served as a thumbnail; catalog photos are downscaled product shots.
const MAX_THUMBNAIL_BYTES: u64 = 5 * 1024 * 1024;

/// `GET /api/v1/thumbnails/{label}`: the catalog's first photo of `label`, so product pictures
/// come from this server rather than a shop's CDN.
pub async fn thumbnail(State(state): State<AppState>, Path(label): Path<String>) -> Result<Response, ServeError> {
    let path = state
        .thumbnails
        .get(&label)
        .cloned()
        .ok_or_else(|| ServeError::NotFound(format!("no catalog photo for {label:?}")))?;
    let mime = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("bmp") => "image/bmp",
        _ => "application/octet-stream",
    };
    let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(&path)?.take(MAX_THUMBNAIL_BYTES).read_to_end(&mut bytes)?;
        Ok(bytes)
    })
    .await
    .map_err(|e| ServeError::Internal(format!("thumbnail task: {e}")))?
    .map_err(|e| ServeError::NotFound(format!("catalog photo for {label:?} unreadable: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600")),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /favicon.ico` (an SVG; browsers go by the content type).
pub async fn favicon() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], FAVICON).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_styles_every_verdict_the_api_gives() {
        // app.js sets the verdict's name as the heading's class; each needs its own colour, and
        // the two that are not a match their own wording.
        for v in sneaker_identify::Verdict::ALL {
            assert!(STYLE.contains(&format!("h2.{} ", v.name())), "style.css has no rule for {}", v.name());
        }
        for v in [sneaker_identify::Verdict::NotSure, sneaker_identify::Verdict::NotASneaker] {
            assert!(SCRIPT.contains(&format!("\"{}\"", v.name())), "app.js does not handle {}", v.name());
        }
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn the_notice_shows_exactly_the_page_commands() {
        let notice = untrained_notice();
        for command in PAGE_COMMANDS {
            assert!(command.starts_with("sneaker-id "), "{command}");
            assert!(notice.contains(&escape(command)), "{command} missing from the notice");
        }
        // No other command line is shown.
        assert_eq!(notice.matches("sneaker-id ").count(), PAGE_COMMANDS.len(), "{notice}");
        assert!(notice.contains("Add a sneaker") && notice.contains("serve --catalog"));
    }

    #[test]
    fn template_placeholders_are_all_known() {
        let known = [
            "MODEL_KIND",
            "DEFAULT_TOP_K",
            "MAX_TOP_K",
            "MODEL_NAME",
            "NOTICE",
            "BODY_LIMIT_MB",
            "FORMATS",
            "BG_DISABLED",
            "BG_NOTE",
            "TOP_K_OPTIONS",
            "ENROLL_HIDDEN",
            "MAX_ENROLL_PHOTOS",
        ];
        for piece in INDEX.split("{{").skip(1) {
            let name = piece.split("}}").next().expect("split yields at least one piece");
            assert!(known.contains(&name), "unknown placeholder {{{{{name}}}}}");
        }
    }
}
