//! A world as a delm workspace: one tool that reads it (`read_source` page by page, or
//! `test_cause` step by step), and the resolution of evidence against its texts. This is
//! the only way anything of the world reaches a prompt.

use super::world::World;
use delm::engine::tools::{
    POINT_CITATION, ResolvedEvidence, ToolContext, ToolResult, Workspace, quote_in,
};
use delm::event::Evidence;
use delm::llm::ToolSpec;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::sync::Arc;

pub const READ_TOOL: &str = "read_source";
pub const TEST_TOOL: &str = "test_cause";
/// Prefix of a cause's test log as an evidence source.
pub const TEST_SOURCE: &str = "test:";

pub struct WorldWorkspace {
    world: Arc<World>,
}

impl WorldWorkspace {
    pub fn new(world: Arc<World>) -> Self {
        WorldWorkspace { world }
    }

    fn listed(&self) -> String {
        self.world
            .listed()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One page (or step) of a source, with the header the agent reads its progress from.
    fn page(&self, args: &Value) -> ToolResult {
        let key = if self.world.search { "cause" } else { "source" };
        let id = args[key]
            .as_str()
            .ok_or_else(|| format!("`{key}` is required (one of: {})", self.listed()))?;
        let source = self.world.source(id).ok_or_else(|| {
            format!(
                "there is no {key} `{}`",
                id.chars().take(60).collect::<String>()
            )
        })?;
        let n = source.pages.len();
        let page = args
            .get(if self.world.search { "step" } else { "page" })
            .and_then(|p| p.as_u64().or_else(|| p.as_str()?.trim().parse().ok()))
            .unwrap_or(1) as usize;
        if page == 0 || page > n {
            return Err(format!("{} has {n} {}", source.id, self.unit(n)));
        }
        let text = &source.pages[page - 1];
        Ok(if self.world.search {
            format!("test of {}, step {page} of {n}:\n{text}", source.id)
        } else {
            format!("source {}, page {page} of {n}:\n{text}", source.id)
        })
    }

    fn unit(&self, n: usize) -> &'static str {
        match (self.world.search, n) {
            (true, 1) => "step",
            (true, _) => "steps",
            (false, 1) => "page",
            (false, _) => "pages",
        }
    }
}

impl Workspace for WorldWorkspace {
    fn describe(&self) -> String {
        if self.world.search {
            format!(
                "Candidate causes: {}. Test one with `{TEST_TOOL}` {{\"cause\": id, \"step\": \
n}}: a test takes several steps (each says how many) and its last step says whether the \
cause is ruled out or confirmed. Cite evidence as source = {TEST_SOURCE}<cause> and quote = \
exact words of a step's output. {POINT_CITATION}",
                self.listed()
            )
        } else {
            format!(
                "A system of components, each documented by a source. Listed sources: {}. A \
source may name further components with the source that documents them. Read one with \
`{READ_TOOL}` {{\"source\": id, \"page\": n}}: pages count from 1 and each page says how many \
its source has. Cite evidence as source = the source id and quote = exact words from one of \
its pages. {POINT_CITATION}",
                self.listed()
            )
        }
    }

    fn tool_specs(&self) -> Vec<ToolSpec> {
        vec![if self.world.search {
            ToolSpec {
                name: TEST_TOOL.into(),
                description: "Run one step of the test of a candidate cause.".into(),
                parameters: json!({"type": "object", "properties": {
                    "cause": {"type": "string", "description": "A candidate cause"},
                    "step": {"type": "integer", "description": "Step, from 1"}},
                    "required": ["cause", "step"]}),
            }
        } else {
            ToolSpec {
                name: READ_TOOL.into(),
                description: "Read one page of a component's source.".into(),
                parameters: json!({"type": "object", "properties": {
                    "source": {"type": "string", "description": "A source id"},
                    "page": {"type": "integer", "description": "Page, from 1"}},
                    "required": ["source", "page"]}),
            }
        }]
    }

    fn call<'a>(
        &'a self,
        _ctx: &'a ToolContext,
        name: &'a str,
        args: &'a Value,
    ) -> BoxFuture<'a, Option<ToolResult>> {
        let tool = if self.world.search {
            TEST_TOOL
        } else {
            READ_TOOL
        };
        Box::pin(async move { (name == tool).then(|| self.page(args)) })
    }

    fn resolve(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        let source = self.world.source(&evidence.source).ok_or_else(|| {
            format!(
                "`{}` is not a source of this workspace",
                evidence.source.chars().take(60).collect::<String>()
            )
        })?;
        if let Some(page) = source
            .pages
            .iter()
            .find(|page| quote_in(page, &evidence.quote).is_some())
        {
            let mut resolved = evidence.clone();
            resolved.resolved = Some(source.id.clone());
            resolved.lines = None;
            return Ok(ResolvedEvidence::exact(resolved, page.clone()));
        }
        Err(format!(
            "the quote is not in {}: copy it exactly from a page of the source",
            source.id
        ))
    }

    fn initial_tasks(&self, _goal: &str) -> Vec<(String, String)> {
        Vec::new()
    }
}
