//! The integration page's files (`functions/admin/page/`, compiled in: no build step) and the
//! small pages the handler answers with before there is a session. None of them reflects any
//! input.

pub const INDEX_HTML: &str = include_str!("../page/index.html");
pub const APP_JS: &str = include_str!("../page/app.js");
pub const APP_CSS: &str = include_str!("../page/app.css");

fn small_page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
    )
}

macro_rules! small_page {
    ($name:ident, $title:literal, $text:literal) => {
        pub static $name: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| small_page($title, $text));
    };
}

small_page!(
    LINK_REFUSED_PAGE,
    "Personio integration",
    "This link has expired or was already used: open the integration again from Learn Amp."
);
small_page!(
    OPEN_FROM_LEARN_AMP_PAGE,
    "Personio integration",
    "Open this page from Learn Amp: Company Settings → Integrations → Personio."
);
small_page!(
    TRY_AGAIN_PAGE,
    "Personio integration",
    "Something went wrong on our side: try again in a minute."
);
small_page!(
    NOT_FOUND_PAGE,
    "Not found",
    "There is nothing at this address."
);
