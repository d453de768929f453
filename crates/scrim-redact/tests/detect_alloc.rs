//! Clean text costs nothing: scrubbing text in which nothing is found makes no heap
//! allocation and returns the input borrowed (counted per thread by `allocation-counter`).

use std::borrow::Cow;

use scrim_redact::TextScrubber;
use scrim_redact::detect::TextRedactor;
use scrim_redact::kind::Counts;

#[test]
fn clean_text_is_scrubbed_without_allocating() {
    let redactor = TextRedactor::default();
    let texts = [
        "2024-11-24T08:52:44.123Z INFO  [http-nio-8080-exec-3] c.e.orders.OrderService - \
         order 83412 created in 23ms path=/api/v1/orders/83412 status=200",
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 ts=1732406400000",
        "GET https://example.com/api?page=2 version=1.2.3 at 12:30:45 std::io::Error",
        "{\"event\":\"cache_miss\",\"key\":\"product:8841\",\"ttl\":300} tokenizer=bpe path=/x",
        "Bearer authentication required; user@localhost; order 4111111111111112; é中🦀",
        "",
    ];
    // Warm up lazily built state, if any.
    let mut counts = Counts::default();
    for t in texts {
        let _ = redactor.scrub(t, &mut counts);
    }
    for t in texts {
        let mut out = None;
        let info = allocation_counter::measure(|| {
            out = Some(redactor.scrub(t, &mut counts));
        });
        assert!(matches!(out, Some(Cow::Borrowed(_))), "{t:?} changed");
        assert_eq!(info.count_total, 0, "{t:?} allocated");
    }
    assert_eq!(counts.total(), 0);
}
