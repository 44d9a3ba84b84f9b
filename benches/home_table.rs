//! Benchmark: the accounts home with 1,000 mailboxes. Times whole frames (layout, drawing into shapes,
//! tessellation and the screen reader tree, through egui_kittest) while the table scrolls from top to bottom, and
//! reports them against the 16.7 ms budget of a 60 Hz screen. Run: `cargo bench --bench home_table`.
//! `MAILCONNECT_BENCH_ROWS` sets the number of mailboxes (default 1000).

use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mailconnect::config::{Account, Preset, Provider};
use mailconnect::runner::Services;
use mailconnect::store::{StoreAccess, TokenStore};
use mailconnect::tls::Trust;
use mailconnect::ui::WizardApp;
use mailconnect::wizard::{AccountForm, Wizard};

fn main() {
    let rows: usize = std::env::var("MAILCONNECT_BENCH_ROWS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let preset = Preset::for_provider(Provider::Microsoft365);
    let accounts: Vec<Account> = (0..rows)
        .map(|n| Account::from_preset(&format!("user{n:04}@smile-dental.example"), &preset))
        .collect();
    let (store, _items) = TokenStore::in_memory();
    let services = Services {
        trust: Trust::new(None).unwrap(),
        timeouts: Default::default(),
        store: StoreAccess::Memory(store),
        config_file: None,
        state_file: None,
        open_browser: false,
        demo_password: None,
        demo: false,
        bridge: None,
    };
    let wizard = Wizard::new(accounts.clone(), AccountForm::new_for(preset));
    let handle = runtime.handle().clone();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1100.0, 660.0))
        .build_eframe(move |cc| {
            WizardApp::new(&cc.egui_ctx, handle, services, wizard).with_accounts(accounts)
        });
    // Let every row be read (the in-memory keyring answers at once) before timing.
    for _ in 0..50 {
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut frames = Vec::new();
    let centre = egui::pos2(550.0, 400.0);
    for frame in 0..600 {
        harness.hover_at(centre);
        // Down through the whole table, then back up.
        let delta = if frame < 300 { -200.0 } else { 200.0 };
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, delta),
            phase: egui::TouchPhase::Move,
            modifiers: egui::Modifiers::NONE,
            source: egui::MouseWheelSource::Wheel,
        });
        let started = Instant::now();
        harness.step();
        frames.push(started.elapsed());
        if frame == 299 {
            let last = format!("user{:04}@", rows - 1);
            assert!(
                harness.query_all_by_label_contains(&last).next().is_some(),
                "the scrolling reached the last row"
            );
        }
    }
    frames.sort();
    let at = |fraction: f64| frames[((frames.len() - 1) as f64 * fraction) as usize];
    let milliseconds = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!(
        "home table, {rows} rows, {} frames while scrolling: median {:.2} ms, p95 {:.2} ms, max {:.2} ms (budget 16.7 ms)",
        frames.len(),
        milliseconds(at(0.5)),
        milliseconds(at(0.95)),
        milliseconds(at(1.0)),
    );
}
