//! A deterministic generator of realistic log text, shared by the text benchmark and
//! the profiling example. See `benches/text.rs` for what it contains.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
}

const LEVELS: &[&str] = &["INFO ", "DEBUG", "WARN ", "ERROR", "INFO ", "INFO "];
const CLASSES: &[&str] = &[
    "c.e.orders.OrderService",
    "c.e.payments.PaymentGateway",
    "o.s.web.servlet.DispatcherServlet",
    "c.e.cache.RedisCacheManager",
    "c.e.auth.SessionFilter",
    "c.e.inventory.StockReconciler",
];
const PATHS: &[&str] = &[
    "/api/v1/orders/",
    "/api/v2/customers/",
    "/static/js/app.",
    "/internal/health/",
    "/api/v1/products/",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];
const EVENTS: &[&str] = &[
    "cache_miss",
    "cache_hit",
    "retry_scheduled",
    "order_created",
    "payment_authorized",
    "stock_reserved",
];

/// One field of a log line; with probability `p_sensitive` (per mille) a sensitive one.
fn field(r: &mut Rng, p_sensitive: u64) -> String {
    if r.below(1000) < p_sensitive {
        return sensitive(r);
    }
    match r.below(16) {
        0 => format!(
            "status={}",
            r.pick(&["200", "201", "204", "304", "404", "500"])
        ),
        1 => format!("duration_ms={}", r.below(5000)),
        2 => format!("user_id={}", r.below(10_000_000)),
        3 => format!("trace_id={}", r.hex(32)),
        4 => format!("span_id={}", r.hex(16)),
        5 => format!("path={}{}", r.pick(PATHS), r.below(1_000_000)),
        6 => format!(
            "request_id={}-{}-4{}-a{}-{}",
            r.hex(8),
            r.hex(4),
            r.hex(3),
            r.hex(3),
            r.hex(12)
        ),
        7 => format!("ts={}", 1_732_406_400_000 + r.below(100_000_000)),
        8 => format!(
            "order={}",
            not_luhn(4_000_000_000_000_000 + r.below(999_999_999_999_999))
        ),
        9 => format!("version={}.{}.{}", r.below(5), r.below(30), r.below(100)),
        10 => format!(
            "{{\"event\":\"{}\",\"key\":\"product:{}\",\"ttl\":{}}}",
            r.pick(EVENTS),
            r.below(100_000),
            r.below(3600)
        ),
        11 => format!("method={} bytes={}", r.pick(METHODS), r.below(1_000_000)),
        12 => format!(
            "retries={} elapsed={}.{}s",
            r.below(5),
            r.below(60),
            r.below(1000)
        ),
        13 => format!(
            "at com.example.{}.handle({}.java:{})",
            r.pick(&["Foo", "Bar", "OrderController"]),
            r.pick(&["Foo", "Bar"]),
            r.below(900)
        ),
        14 => format!(
            "host=web-{}.prod.internal port={}",
            r.below(40),
            8000 + r.below(1000)
        ),
        _ => format!(
            "msg=\"{} took {}ms for {} items\"",
            r.pick(EVENTS),
            r.below(900),
            r.below(50)
        ),
    }
}

/// `n` with its last digit changed if it passes Luhn (order ids that look like cards).
fn not_luhn(n: u64) -> u64 {
    let digits: Vec<u32> = n.to_string().bytes().map(|c| u32::from(c - b'0')).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    if sum.is_multiple_of(10) { n ^ 1 } else { n }
}

fn sensitive(r: &mut Rng) -> String {
    match r.below(10) {
        0 => format!("email=user{}@example.com", r.below(100_000)),
        1 => "card=4111 1111 1111 1111".to_string(),
        2 => format!("client_ip=10.{}.{}.{}", r.below(256), r.below(256), r.below(256)),
        3 => format!("peer=2001:db8::{}", r.hex(4)),
        4 => "auth=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U".to_string(),
        5 => format!("Authorization: Bearer {}", r.hex(40)),
        6 => "key=AKIAIOSFODNN7EXAMPLE".to_string(),
        7 => "ssn 123-45-6789".to_string(),
        8 => "iban=DE89370400440532013000".to_string(),
        _ => format!("password={}", r.hex(12)),
    }
}

/// About `bytes` of log lines, each with a timestamp, level, thread, class and fields.
pub fn log_text(seed: u64, bytes: usize, p_sensitive: u64) -> String {
    let mut r = Rng(seed);
    let mut s = String::with_capacity(bytes + 512);
    while s.len() < bytes {
        let ms = r.below(86_400_000);
        s.push_str(&format!(
            "2024-11-24T{:02}:{:02}:{:02}.{:03}Z {} [http-nio-8080-exec-{}] {} - ",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            r.pick(LEVELS),
            r.below(200),
            r.pick(CLASSES)
        ));
        let n = 3 + r.below(6);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&field(&mut r, p_sensitive));
        }
        s.push('\n');
    }
    s
}
