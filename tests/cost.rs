//! Half the bill: against a loopback server that caches prompt prefixes and reports cached
//! tokens the way the Anthropic API does, a 3-agent docs run sends `cache_control`, every
//! agent's calls share one byte-identical tools+system prefix, the session records the
//! cached tokens, and the cost is computed at the cached rates.

mod support;
mod swarm;

use delm::engine::{PriceFn, RunBuilder, RunConfig, tools};
use delm::event::{CallPurpose, Envelope, Event, Mode, VerifyMode};
use delm::llm::Usage;
use delm::llm::config::{ProviderConfig, ProviderKind};
use delm::llm::pricing::Pricing;
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use support::{MockLlm, MockOptions, RecordedRequest, Reply, Wire};
use swarm::*;

const MODEL: &str = "claude-sonnet-4-5";

/// Documents long enough that each task's second call carries a cacheable history.
fn docs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, fact) in &support::VENDOR_DOCS[..4] {
        let filler =
            "The company describes its operations, markets and outlook in detail. ".repeat(120);
        std::fs::write(dir.path().join(name), format!("{fact}\n\n{filler}\n")).unwrap();
    }
    dir
}

/// Read the document, then record its fact and finish in one turn.
fn reader(req: &RecordedRequest, _n: usize) -> Reply {
    if is_judge(req) {
        return approve();
    }
    if is_finalise(req) {
        return final_answer(req, "Alpha Corp had the highest revenue.");
    }
    let line = task_line(req);
    let Some(doc) = ["alpha.txt", "beta.txt", "gamma.txt", "delta.txt"]
        .into_iter()
        .find(|d| line.contains(d))
    else {
        return finish("nothing here");
    };
    if assistant_turns(req) == 0 {
        return Reply::tool("read_doc", json!({"doc": doc}));
    }
    let text = req.prompt_text();
    let fact = text
        .lines()
        .map(str::trim)
        .find(|l| l.contains("2024 revenue was"))
        .map(|l| l.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ' || c == '|'))
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_string();
    Reply::Tools(vec![
        (
            "record_point".into(),
            json!({"kind": "finding", "headline": fact, "summary": fact,
                   "evidence": [{"source": doc, "quote": fact}]}),
        ),
        ("finish_task".into(), json!({"result": "recorded"})),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_docs_run_reads_its_shared_prefix_from_cache_and_pays_cached_rates() {
    let dir = docs();
    let mock =
        MockLlm::start_with(Wire::Anthropic, MockOptions { prompt_cache: true }, reader).await;
    let pc = ProviderConfig::new(ProviderKind::Anthropic, MODEL, mock.base_url.clone());
    let llm = Arc::new(RetryingProvider::new(
        delm::llm::build_provider(pc),
        RetryPolicy {
            base_delay: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
    ));
    let pricing = Pricing::default();
    let price_of = pricing.price("anthropic", MODEL).expect("a listed model");
    let price: PriceFn = Arc::new(move |u: Usage| Some(price_of.cost(u)));
    let mode = Mode::Docs {
        roots: vec![dir.path().to_string_lossy().into_owned()],
    };
    let mut cfg = RunConfig::new(
        "Which company had the highest 2024 revenue?",
        mode.clone(),
        MODEL,
    );
    cfg.agents = 3;
    cfg.verify = VerifyMode::Judge;
    let handle = RunBuilder::new(cfg, llm, price, tools::open(&mode).unwrap())
        .start()
        .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .expect("the run finishes");
    assert!(state.answer.is_some());
    let requests = mock.requests();
    let work: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|r| !is_judge(r) && !is_finalise(r))
        .collect();
    assert!(
        work.len() >= 8,
        "two calls per document task: {}",
        work.len()
    );

    // 1. cache_control is sent: on the tools, the system prompt and the latest message.
    for r in &work {
        assert!(r.cache_breakpoints() >= 3, "{}", r.body);
    }

    // 2. The agents share one byte-identical tools+system prefix (at least 60% of calls).
    let mut prefixes: HashMap<String, usize> = HashMap::new();
    for r in &work {
        *prefixes.entry(r.tools_and_system()).or_default() += 1;
    }
    let agents: std::collections::HashSet<String> =
        work.iter().filter_map(|r| agent_of(r)).collect();
    assert!(agents.len() >= 2, "several agents worked: {agents:?}");
    let shared = prefixes.values().max().copied().unwrap_or(0);
    assert!(
        shared * 10 >= work.len() * 6,
        "only {shared} of {} work calls share one prefix ({} distinct)",
        work.len(),
        prefixes.len()
    );

    // 3. The session records cached tokens, and 4. the cost uses the cached rates.
    let log: Vec<Envelope> = handle.events_since(0);
    let mut cached_calls = 0;
    for e in &log {
        let Event::LlmCall {
            purpose,
            tokens_in,
            tokens_out,
            tokens_cached_read,
            tokens_cache_write,
            cost_usd,
            ..
        } = &e.event
        else {
            continue;
        };
        let usage = Usage {
            input_tokens: *tokens_in,
            output_tokens: *tokens_out,
            cache_read_tokens: *tokens_cached_read,
            cache_write_tokens: *tokens_cache_write,
        };
        let expected = price_of.cost(usage);
        let cost = cost_usd.expect("a priced model");
        assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
        if *tokens_cached_read > 0 && *purpose == CallPurpose::Work {
            cached_calls += 1;
            let full = price_of.cost(Usage {
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                ..usage
            });
            assert!(
                cost < full,
                "a cached call costs less than at full input price"
            );
        }
    }
    assert!(cached_calls > 0, "no work call read from the cache");
    assert!(state.totals.tokens_cached_read > 0);
    // Cached reads are a large share of the input.
    let share = state.totals.tokens_cached_read as f64 / state.totals.tokens_in as f64;
    assert!(share > 0.3, "cache share {share:.2}");
}
