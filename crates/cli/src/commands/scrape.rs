//! `sneaker-id scrape`: build a catalog from a products CSV + spin template and/or
//! marketplace listing pages, politely and resumably, with a progress bar.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use sneaker_scrape::{Progress, ScrapeConfig, Summary};

#[derive(clap::Args)]
pub struct Args {
    /// Where to start: a shop's root URL, listing pages or sitemap URLs. Links, rel=next
    /// pagination and the sitemaps named in each start host's robots.txt are followed.
    pub start_urls: Vec<String>,
    /// Catalog folder to create or continue (re-run the same command to resume).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Products CSV (Brand, Categories, Colorway, Deadstock sold, Gender, Style id,
    /// Thumbnail_url, url, label, name/slug).
    #[arg(long)]
    pub products_csv: Option<PathBuf>,
    /// Spin image URL template: {slug}, {label}, {index}, {index:02}, {n}.
    #[arg(long)]
    pub image_template: Option<String>,
    /// Views per spin for the template.
    #[arg(long, default_value_t = 36)]
    pub views: u32,
    /// Host we may fetch from (repeatable); default: the hosts of the start URLs and template.
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,
    /// User-Agent sent with every request; make it identify you.
    #[arg(long)]
    pub user_agent: Option<String>,
    /// Token matched against robots.txt User-agent lines.
    #[arg(long, default_value = "sneaker-id")]
    pub robots_agent: String,
    /// Requests in flight overall.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Requests in flight per host.
    #[arg(long, default_value_t = 2)]
    pub per_host: usize,
    /// Minimum milliseconds between request starts on a host (robots.txt Crawl-delay wins if longer).
    #[arg(long, default_value_t = 500)]
    pub delay_ms: u64,
    /// Pages fetched at most.
    #[arg(long, default_value_t = 10_000)]
    pub max_pages: usize,
    /// Link hops from a start URL (pagination does not count).
    #[arg(long, default_value_t = 3)]
    pub max_depth: u32,
    /// Images kept per product at most.
    #[arg(long, default_value_t = 36)]
    pub max_images_per_product: usize,
    /// Tries per request for timeouts, dropped connections, 408, 429 and 5xx.
    #[arg(long, default_value_t = 4)]
    pub max_attempts: u32,
    /// First retry backoff in milliseconds (doubles each try, with jitter).
    #[arg(long, default_value_t = 500)]
    pub backoff_ms: u64,
    /// Whole-request timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Images whose shorter side is below this many pixels are rejected.
    #[arg(long, default_value_t = 64)]
    pub min_side: u32,
    /// Revisit the listings and sitemaps of an earlier crawl of OUT for new and changed
    /// products (conditional requests where the server gave ETag/Last-Modified; product pages
    /// only when their sitemap lastmod is newer); what is done stays done.
    #[arg(long)]
    pub refresh: bool,
    /// Find products and images, download and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    fn config(self) -> ScrapeConfig {
        let defaults = ScrapeConfig::default();
        ScrapeConfig {
            out: self.out,
            start_urls: self.start_urls,
            products_csv: self.products_csv,
            image_template: self.image_template,
            views: self.views,
            allowed_hosts: self.allow_hosts,
            user_agent: self.user_agent.unwrap_or(defaults.user_agent),
            robots_agent: self.robots_agent,
            concurrency: self.concurrency,
            per_host_concurrency: self.per_host,
            min_delay_ms: self.delay_ms,
            max_pages: self.max_pages,
            max_depth: self.max_depth,
            max_images_per_product: self.max_images_per_product,
            max_attempts: self.max_attempts,
            backoff_base_ms: self.backoff_ms,
            request_timeout_ms: self.timeout_ms,
            min_image_side: self.min_side,
            dry_run: self.dry_run,
            refresh: self.refresh,
            ..defaults
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (json, quiet) = (args.json, args.quiet);
    let cfg = args.config();
    cfg.validate()?;
    let out = cfg.out.clone();
    let progress = Arc::new(Progress::default());
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let bar = (!quiet).then(|| progress_bar(progress.clone()));
    let summary = runtime.block_on(sneaker_scrape::run(cfg, progress.clone()));
    if let Some((bar, ticker)) = bar {
        bar.finish_and_clear();
        let _ = ticker.join();
    }
    let summary = summary.with_context(|| format!("scraping into {}", out.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary, &out);
    }
    Ok(())
}

fn progress_bar(progress: Arc<Progress>) -> (ProgressBar, std::thread::JoinHandle<()>) {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} images {msg}")
            .expect("template is valid"),
    );
    let b = bar.clone();
    // A plain thread keeps the bar moving even while the runtime's workers are all busy.
    let ticker = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        loop {
            let s = progress.snapshot();
            let done = s.images_saved + s.duplicates + s.rejected;
            b.set_length(s.images_planned);
            b.set_position(done.min(s.images_planned));
            let rate = s.images_saved as f64 / started.elapsed().as_secs_f64().max(0.001);
            b.set_message(format!(
                "| {} products, {} pages | {} | {} errors | {rate:.1} img/s",
                s.products,
                s.pages,
                HumanBytes(s.bytes),
                s.failed + s.rejected
            ));
            if b.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    (bar, ticker)
}

fn print_summary(s: &Summary, out: &std::path::Path) {
    let r = &s.run;
    if s.dry_run {
        println!("dry run: {} products, {} images would be downloaded", r.products, r.images_planned);
        for p in &s.planned {
            println!("  {:<40} {:>3} images  {}", p.label, p.images, p.url.as_deref().unwrap_or(""));
        }
        return;
    }
    println!(
        "{}: {} images in {} products ({} new this run, {} duplicates, {} rejected, {} failed; {} pages, {} sitemaps, {} in {:.1}s)",
        out.display(),
        s.catalog_images,
        s.catalog_products,
        r.images_saved,
        r.duplicates,
        r.rejected,
        r.failed,
        r.pages,
        r.sitemaps,
        HumanBytes(r.bytes),
        s.elapsed.as_secs_f64()
    );
    if s.refresh {
        println!("refresh: {} pages unchanged (304), {} products updated", r.unchanged, r.updated);
    }
    if r.skipped_pages + r.skipped_images > 0 {
        let hint = if s.refresh {
            ""
        } else {
            "; listings and sitemaps were not revisited (--refresh looks for new and changed products)"
        };
        println!(
            "skipped what earlier runs finished: {} pages and sitemaps, {} images{hint}",
            r.skipped_pages, r.skipped_images
        );
    }
    if s.failures > 0 {
        let kinds: Vec<String> = s.failure_kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "{} failures logged in {} ({})",
            s.failures,
            out.join(sneaker_scrape::FAILURES_JSONL).display(),
            kinds.join(", ")
        );
    }
}
