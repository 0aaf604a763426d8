//! Bounded fuzzing (proptest) of what Learn Amp's answers decide: the token's lifetime and
//! a listing's end. No input panics, no token is kept outside its bounds, and no listing
//! asks for a page past `MAX_PAGES` or the same page twice.

use super::*;
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};

fn lifetimes() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<u64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,30}".prop_map(serde_json::Value::from),
        "-?[0-9]{0,40}(\\.[0-9]{0,5})?(e[0-9]{1,3})?".prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        Just(serde_json::json!({"seconds": 5})),
        Just(serde_json::json!([7200])),
    ]
}

proptest! {
    #[test]
    fn any_token_answer_decodes_or_fails_cleanly(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = sync_core::decode::decode::<TokenResponse>(&body);
    }

    #[test]
    fn a_token_is_kept_between_45_s_and_a_day(expires_in in lifetimes()) {
        let body = serde_json::json!({"access_token": "t", "expires_in": expires_in});
        let token: TokenResponse = sync_core::decode::from_value(body).unwrap();
        let keep = renew_after(&token);
        prop_assert!(keep >= Duration::from_secs(45), "{keep:?}");
        prop_assert!(keep <= Duration::from_secs(24 * 3600), "{keep:?}");
        // Never overflows the clock.
        let _ = Instant::now() + keep;
    }

    #[test]
    fn a_listing_always_ends(
        total in proptest::option::of(".{0,24}|[0-9]{1,25}"),
        total_pages in proptest::option::of(".{0,24}|[0-9]{1,25}"),
        batches in proptest::collection::vec(0usize..=200, 1..50),
        endless in any::<bool>(),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in [("total", &total), ("total-pages", &total_pages)] {
            if let Some(v) = value.as_ref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        }
        let headers = ListingHeaders::read(&headers);
        let (mut page, mut read, mut asked) = (1u32, 0usize, 1u32);
        loop {
            // Pages of the sizes drawn, then (when `endless`) full pages for ever.
            let batch = match batches.get(page as usize - 1) {
                Some(&b) => b,
                None if endless => 100,
                None => 0,
            };
            read += batch;
            match headers.after_page(page, batch, read) {
                NextPage::Done => break,
                NextPage::Page(next) => {
                    prop_assert_eq!(next, page + 1);
                    page = next;
                    asked += 1;
                }
                NextPage::TooMany => break,
            }
            prop_assert!(asked <= MAX_PAGES);
        }
    }
}

#[test]
fn a_token_is_renewed_a_minute_early_or_a_quarter_of_a_short_life_early() {
    let token = |secs: u64| TokenResponse {
        access_token: "t".into(),
        token_type: None,
        expires_in: Some(serde_json::json!(secs)),
        scope: None,
        created_at: None,
    };
    assert_eq!(renew_after(&token(7200)), Duration::from_secs(7140));
    assert_eq!(renew_after(&token(240)), Duration::from_secs(180));
    assert_eq!(renew_after(&token(61)), Duration::from_millis(45_750));
    assert_eq!(renew_after(&token(0)), Duration::from_secs(45));
}

#[test]
fn a_listing_ends_at_an_empty_page_or_the_total() {
    let lying = ListingHeaders {
        total: Some(u64::MAX),
        total_pages: Some(u64::MAX),
    };
    assert_eq!(lying.after_page(3, 0, 200), NextPage::Done);
    assert_eq!(lying.after_page(3, 100, 300), NextPage::Page(4));
    assert_eq!(lying.after_page(MAX_PAGES, 100, 1), NextPage::TooMany);
    let honest = ListingHeaders {
        total: Some(150),
        total_pages: Some(2),
    };
    assert_eq!(honest.after_page(1, 100, 100), NextPage::Page(2));
    assert_eq!(honest.after_page(2, 50, 150), NextPage::Done);
    let total_reached = ListingHeaders {
        total: Some(150),
        total_pages: Some(9),
    };
    assert_eq!(total_reached.after_page(2, 50, 150), NextPage::Done);
}
