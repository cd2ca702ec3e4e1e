//! The scheduler's rules, one decision at a time, without tokio: a harness feeds requests
//! and folds the events each step emits, as the board does.
//! One file because every test drives the same harness; each test is one rule.

use super::*;
use crate::event::{Envelope, Mode, VerifyMode};

struct Harness {
    sched: Scheduler,
    state: RunState,
    seq: u64,
    now: Duration,
}

impl Harness {
    fn new(cfg: SchedulerConfig, agents: usize, tasks: &[&str]) -> Self {
        let mut h = Harness {
            sched: Scheduler::new(cfg.clone()),
            state: RunState::default(),
            seq: 0,
            now: Duration::ZERO,
        };
        let started = Event::RunStarted {
            run_id: "r".into(),
            goal: "g".into(),
            mode: Mode::Plain,
            model: "m".into(),
            agents,
            verify: VerifyMode::Evidence,
            budgets: cfg.budgets.clone(),
            coordination: cfg.coordination,
            endpoint: None,
        };
        let initial = tasks
            .iter()
            .map(|t| (t.to_string(), String::new()))
            .collect();
        let step = h.sched.start(started, initial);
        h.apply(step);
        h
    }

    fn delm(agents: usize, tasks: &[&str]) -> Self {
        Self::new(SchedulerConfig::default(), agents, tasks)
    }

    fn apply(&mut self, step: Step) -> Step {
        for event in &step.events {
            self.seq += 1;
            self.state.apply(&Envelope {
                seq: self.seq,
                ts: "2026-01-01T00:00:00Z".into(),
                event: event.clone(),
            });
        }
        let after = self.sched.after_apply(&self.state);
        for event in &after.events {
            self.seq += 1;
            self.state.apply(&Envelope {
                seq: self.seq,
                ts: "2026-01-01T00:00:00Z".into(),
                event: event.clone(),
            });
        }
        let mut step = step;
        step.effects.extend(after.effects);
        step
    }

    fn send(&mut self, agent: &str, req: Request) -> Step {
        let step = self.sched.handle(&self.state, self.now, agent, req);
        self.apply(step)
    }

    fn control(&mut self, control: Control) -> Step {
        let step = self.sched.control(&self.state, self.now, control);
        self.apply(step)
    }

    fn claim(&mut self, agent: &str) -> ClaimReply {
        match self.send(agent, Request::Claim).reply {
            Some(Reply::Claim(c)) => c,
            other => panic!("claim got {other:?}"),
        }
    }

    /// Claim and expect a task: its claim.
    fn claim_task(&mut self, agent: &str) -> Claim {
        match self.claim(agent) {
            ClaimReply::Task { claim, .. } => claim,
            other => panic!("{agent} expected a task, got {other:?}"),
        }
    }

    fn finish(&mut self, agent: &str, claim: &Claim) -> Reply {
        self.send(
            agent,
            Request::Finish {
                claim: claim.clone(),
                outcome: TaskOutcome::Done,
                result: "done".into(),
            },
        )
        .reply
        .unwrap()
    }
}

fn task_of(claim: &Claim) -> &str {
    claim.task().unwrap()
}

#[test]
fn first_claim_wins_and_tasks_go_out_in_order() {
    let mut h = Harness::delm(3, &["one", "two"]);
    let c1 = h.claim_task("a1");
    let c2 = h.claim_task("a2");
    assert_eq!((task_of(&c1), task_of(&c2)), ("T1", "T2"));
    assert_eq!(
        h.claim("a3"),
        ClaimReply::Wait {
            reason: WaitReason::NoWork
        },
        "nothing is left to claim"
    );
    assert_eq!(
        h.state.task("T1").unwrap().state,
        TaskState::Claimed { agent: "a1".into() }
    );
}

#[test]
fn one_open_claim_per_participant() {
    let mut h = Harness::delm(2, &["one", "two"]);
    let c1 = h.claim_task("a1");
    assert_eq!(
        h.claim("a1"),
        ClaimReply::Wait {
            reason: WaitReason::ClaimOpen
        }
    );
    assert_eq!(h.finish("a1", &c1), Reply::Ok);
    assert_eq!(task_of(&h.claim_task("a1")), "T2");
}

#[test]
fn the_last_finisher_gets_the_single_finalise_turn() {
    let mut h = Harness::delm(2, &["one", "two"]);
    let c1 = h.claim_task("a1");
    let c2 = h.claim_task("a2");
    h.finish("a1", &c1);
    // a2 still works: nobody finalises yet.
    assert!(matches!(h.claim("a1"), ClaimReply::Wait { .. }));
    h.finish("a2", &c2);
    assert!(
        matches!(h.claim("a1"), ClaimReply::Wait { .. }),
        "a2 finished last, so a2 finalises"
    );
    let ClaimReply::Finalise {
        claim,
        may_add_tasks,
        ..
    } = h.claim("a2")
    else {
        panic!("a2 should finalise");
    };
    assert!(may_add_tasks);
    assert!(
        matches!(h.claim("a1"), ClaimReply::Wait { .. }),
        "one finaliser at a time"
    );
    let step = h.send(
        "a2",
        Request::FinalAnswer {
            claim,
            answer: "42".into(),
            cited: vec![],
        },
    );
    assert_eq!(step.reply, Some(Reply::Ok));
    assert!(step.effects.contains(&Effect::Over));
    let answer = h.state.answer.as_ref().unwrap();
    assert_eq!(
        (answer.answer.as_str(), answer.stopped_by),
        ("42", StoppedBy::Completed)
    );
    assert_eq!(h.claim("a1"), ClaimReply::Stop);
}

#[test]
fn a_final_answer_may_cite_only_verified_points() {
    let mut h = Harness::delm(1, &["one"]);
    let c = h.claim_task("a1");
    h.finish("a1", &c);
    let ClaimReply::Finalise { claim, .. } = h.claim("a1") else {
        panic!()
    };
    let reply = h
        .send(
            "a1",
            Request::FinalAnswer {
                claim,
                answer: "x".into(),
                cited: vec!["P9".into()],
            },
        )
        .reply;
    assert!(matches!(reply, Some(Reply::Refused { reason }) if reason.contains("P9")));
    assert!(h.state.answer.is_none());
}

#[test]
fn requeue_revokes_the_claim_and_its_late_result_is_refused() {
    let mut h = Harness::delm(2, &["one"]);
    let c1 = h.claim_task("a1");
    let step = h.control(Control::Requeue {
        task: "T1".into(),
        note: Some("look at the footnotes".into()),
    });
    assert!(step.effects.contains(&Effect::Revoke {
        agent: "a1".into(),
        claim: c1.clone()
    }));
    assert_eq!(h.state.task("T1").unwrap().state, TaskState::Queued);
    // The stale result is not applied, and the reason is given.
    let Reply::Refused { reason } = h.finish("a1", &c1) else {
        panic!("a stale finish must be refused");
    };
    assert!(
        reason.contains("re-enqueued") && reason.contains("footnotes"),
        "{reason}"
    );
    assert_eq!(h.state.task("T1").unwrap().state, TaskState::Queued);
    // The next claim is attempt 2 and carries the note.
    let ClaimReply::Task { claim, task } = h.claim("a2") else {
        panic!()
    };
    assert_eq!(
        claim,
        Claim::Task {
            task: "T1".into(),
            attempt: 2
        }
    );
    assert_eq!(task.note.as_deref(), Some("look at the footnotes"));
    assert_eq!(h.finish("a2", &claim), Reply::Ok);
    assert_eq!(h.state.task("T1").unwrap().state, TaskState::Done);
}

#[test]
fn cancel_removes_a_task_from_the_queue_and_revokes_its_claim() {
    let mut h = Harness::delm(2, &["one", "two"]);
    let c1 = h.claim_task("a1");
    h.control(Control::Cancel {
        task: "T2".into(),
        note: None,
    });
    let step = h.control(Control::Cancel {
        task: "T1".into(),
        note: None,
    });
    assert!(step.effects.contains(&Effect::Revoke {
        agent: "a1".into(),
        claim: c1
    }));
    assert_eq!(h.state.task("T2").unwrap().state, TaskState::Cancelled);
    // Nothing is left to work on: the queue is empty, so the finalise turn comes.
    assert!(matches!(h.claim("a2"), ClaimReply::Finalise { .. }));
}

#[test]
fn stale_proposals_are_refused_and_verdicts_apply_once() {
    let mut h = Harness::delm(1, &["one"]);
    let c = h.claim_task("a1");
    let draft = PointDraft {
        kind: PointKind::Finding,
        headline: "h".into(),
        summary: String::new(),
        evidence: vec![],
        supersedes: None,
        notes: vec![],
    };
    let step = h.send(
        "a1",
        Request::Propose {
            claim: c.clone(),
            points: vec![draft.clone()],
        },
    );
    assert!(step.reply.is_none(), "the reply waits for verification");
    let Some(Effect::Verify(job)) = step.effects.first() else {
        panic!("a verify job is due: {:?}", step.effects)
    };
    assert_eq!(job.points[0].author, "a1");
    assert_eq!(job.points[0].task.as_deref(), Some("T1"));
    let id = job.points[0].id.clone();
    let step = h
        .sched
        .verdicts(&h.state, vec![(id.clone(), Ok((vec![], None)))]);
    let step = h.apply(step);
    assert!(matches!(step.reply, Some(Reply::Verdicts { ref verdicts }) if verdicts[0].verified));
    // A late second verdict for the same point changes nothing.
    let step = h
        .sched
        .verdicts(&h.state, vec![(id.clone(), Err("late".into()))]);
    assert!(step.events.is_empty());
    assert_eq!(h.state.point(&id).unwrap().status, PointStatus::Verified);
    // After a requeue, a proposal under the old claim is refused.
    h.control(Control::Requeue {
        task: "T1".into(),
        note: None,
    });
    let step = h.send(
        "a1",
        Request::Propose {
            claim: c,
            points: vec![draft],
        },
    );
    assert!(matches!(step.reply, Some(Reply::Refused { .. })));
    assert!(step.events.is_empty());
}

#[test]
fn reports_are_stamped_with_the_claims_task_and_author() {
    let mut h = Harness::delm(1, &["one"]);
    h.claim_task("a1");
    let step = h.send(
        "a1",
        Request::Report {
            report: Report::Message {
                text: "x".repeat(100_000),
            },
        },
    );
    let Event::AgentMessage { agent, task, text } = &step.events[0] else {
        panic!()
    };
    assert_eq!((agent.as_str(), task.as_deref()), ("a1", Some("T1")));
    assert!(
        text.chars().count() <= limits::MESSAGE_CHARS,
        "event text is capped"
    );
}

#[test]
fn token_budget_requeues_work_in_flight_and_finalises() {
    let cfg = SchedulerConfig {
        budgets: Budgets {
            max_tokens: Some(1_000),
            ..Budgets::default()
        },
        ..SchedulerConfig::default()
    };
    let mut h = Harness::new(cfg, 2, &["one", "two", "three"]);
    let c1 = h.claim_task("a1");
    h.claim_task("a2");
    let call = Request::Report {
        report: Report::LlmCall {
            purpose: crate::event::CallPurpose::Work,
            model: "m".into(),
            tokens_in: 900,
            tokens_out: 200,
            tokens_cached_read: 0,
            tokens_cache_write: 0,
            cost_usd: None,
            latency_ms: 1,
        },
    };
    let step = h.send("a1", call);
    assert!(h.sched.budget_hit());
    let revoked = step
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Revoke { .. }))
        .count();
    assert_eq!(revoked, 2, "both claims are revoked");
    assert_eq!(h.state.count_tasks(|s| *s == TaskState::Queued), 3);
    assert!(matches!(h.finish("a1", &c1), Reply::Refused { .. }));
    // No more tasks go out; the finalise turn comes with the budget note and no add_task.
    let ClaimReply::Finalise {
        may_add_tasks,
        note,
        claim,
        ..
    } = h.claim("a1")
    else {
        panic!("expected the finalise turn")
    };
    assert!(!may_add_tasks && note.unwrap().contains("budget"));
    h.send(
        "a1",
        Request::FinalAnswer {
            claim,
            answer: "partial".into(),
            cited: vec![],
        },
    );
    assert_eq!(
        h.state.answer.as_ref().unwrap().stopped_by,
        StoppedBy::Budget
    );
}

#[test]
fn time_limit_is_a_budget_too() {
    let mut h = Harness::delm(1, &["one"]);
    h.claim_task("a1");
    let step = h.sched.time_up();
    let step = h.apply(step);
    assert!(h.sched.budget_hit());
    assert!(
        step.events
            .iter()
            .any(|e| matches!(e, Event::BudgetReached { why } if why.contains("time limit")))
    );
}

#[test]
fn leases_expire_for_silent_leased_participants_only() {
    let mut h = Harness::delm(1, &["one", "two"]);
    h.sched.lease("x1-outside");
    let cx = h.claim_task("x1-outside");
    h.claim_task("a1");
    h.now = Duration::from_secs(60);
    h.send("x1-outside", Request::Heartbeat);
    assert_eq!(
        h.sched.next_lease_deadline(),
        Some(Duration::from_secs(180))
    );
    h.now = Duration::from_secs(179);
    let step = h.sched.expire_leases(h.now);
    assert!(h.apply(step).events.is_empty());
    h.now = Duration::from_secs(181);
    let step = h.sched.expire_leases(h.now);
    let step = h.apply(step);
    assert!(
        matches!(&step.events[0], Event::ClaimExpired { task, agent, attempt: 1 } if task == "T1" && agent == "x1-outside")
    );
    assert_eq!(h.state.task("T1").unwrap().state, TaskState::Queued);
    // The native agent's claim has no lease and is untouched.
    assert_eq!(
        h.state.task("T2").unwrap().state,
        TaskState::Claimed { agent: "a1".into() }
    );
    // The silent participant's late result is refused with the reason.
    let Reply::Refused { reason } = h.finish("x1-outside", &cx) else {
        panic!()
    };
    assert!(reason.contains("silent"), "{reason}");
}

#[test]
fn a_crashed_participant_hands_its_task_back() {
    let mut h = Harness::delm(2, &["one"]);
    h.claim_task("a1");
    let step = h
        .sched
        .participant_gone(&h.state, "a1", Some("panicked: boom".into()));
    let step = h.apply(step);
    assert!(step.effects.contains(&Effect::Reconcile));
    assert_eq!(h.state.task("T1").unwrap().state, TaskState::Queued);
    assert!(h.state.errors.iter().any(|e| e.contains("boom")));
    assert_eq!(task_of(&h.claim_task("a2")), "T1");
}

#[test]
fn agents_above_the_desired_count_are_told_to_stop() {
    let mut h = Harness::delm(2, &["one"]);
    h.control(Control::SetAgents { count: 1 });
    assert_eq!(h.claim("a2"), ClaimReply::Stop);
    assert!(matches!(h.claim("a1"), ClaimReply::Task { .. }));
}

#[test]
fn paused_swarm_hands_out_nothing() {
    let mut h = Harness::delm(1, &["one"]);
    h.control(Control::Pause);
    assert_eq!(
        h.claim("a1"),
        ClaimReply::Wait {
            reason: WaitReason::Paused
        }
    );
    h.control(Control::Resume);
    assert!(matches!(h.claim("a1"), ClaimReply::Task { .. }));
}

#[test]
fn new_work_interrupts_the_finaliser() {
    let mut h = Harness::delm(1, &["one"]);
    let c = h.claim_task("a1");
    h.finish("a1", &c);
    let ClaimReply::Finalise { claim, .. } = h.claim("a1") else {
        panic!()
    };
    let step = h.control(Control::AddTask {
        title: "more".into(),
        detail: String::new(),
    });
    assert!(step.effects.contains(&Effect::Revoke {
        agent: "a1".into(),
        claim: claim.clone()
    }));
    let reply = h
        .send(
            "a1",
            Request::FinalAnswer {
                claim,
                answer: "x".into(),
                cited: vec![],
            },
        )
        .reply;
    assert!(matches!(reply, Some(Reply::Refused { reason }) if reason.contains("new work")));
    h.send(
        "a1",
        Request::Abandon {
            claim: Claim::Finalise { round: 1 },
        },
    );
    assert!(matches!(h.claim("a1"), ClaimReply::Task { .. }));
}

#[test]
fn task_caps_refuse_with_the_reason() {
    let cfg = SchedulerConfig {
        max_tasks: 3,
        max_tasks_per_claim: 1,
        ..SchedulerConfig::default()
    };
    let mut h = Harness::new(cfg, 1, &["one"]);
    h.claim_task("a1");
    let add = |t: &str| Request::AddTask {
        title: t.into(),
        detail: String::new(),
    };
    assert!(matches!(
        h.send("a1", add("two")).reply,
        Some(Reply::TaskAdded { .. })
    ));
    let Some(Reply::Refused { reason }) = h.send("a1", add("three")).reply else {
        panic!()
    };
    assert!(reason.contains("at most 1"), "{reason}");
    h.sched.lease("x1");
    assert!(matches!(
        h.send("x1", add("three")).reply,
        Some(Reply::TaskAdded { .. })
    ));
    let Some(Reply::Refused { reason }) = h.send("x1", add("four")).reply else {
        panic!()
    };
    assert!(reason.contains("cap (3)"), "{reason}");
}

#[test]
fn central_orchestrator_plans_waits_for_its_wave_and_aggregates() {
    let cfg = SchedulerConfig {
        coordination: Coordination::Central,
        ..SchedulerConfig::default()
    };
    let mut h = Harness::new(cfg, 2, &[]);
    assert!(
        matches!(h.claim("a1"), ClaimReply::Wait { .. }),
        "workers wait for a plan"
    );
    let ClaimReply::Finalise {
        claim,
        fresh: true,
        wave,
        ..
    } = h.claim(ORCHESTRATOR)
    else {
        panic!("the orchestrator plans first")
    };
    assert!(wave.is_empty());
    let add = |t: &str| Request::AddTask {
        title: t.into(),
        detail: String::new(),
    };
    h.send(ORCHESTRATOR, add("part 1"));
    h.send(
        ORCHESTRATOR,
        Request::Broadcast {
            claim: claim.clone(),
            context: "ctx".into(),
        },
    );
    h.send(ORCHESTRATOR, Request::DeclineFinalise { claim });
    assert_eq!(h.state.brief, "ctx");
    let c = h.claim_task("a1");
    assert!(
        matches!(h.claim(ORCHESTRATOR), ClaimReply::Wait { .. }),
        "the wave is running"
    );
    h.finish("a1", &c);
    let ClaimReply::Finalise {
        fresh: false, wave, ..
    } = h.claim(ORCHESTRATOR)
    else {
        panic!("the orchestrator aggregates the wave")
    };
    assert_eq!(wave, vec!["T1".to_string()]);
}

#[test]
fn resume_requeues_work_in_flight_and_reverifies_pending_points() {
    let mut h = Harness::delm(1, &["one", "two"]);
    let c = h.claim_task("a1");
    h.send(
        "a1",
        Request::Propose {
            claim: c,
            points: vec![PointDraft {
                kind: PointKind::Partial,
                headline: "h".into(),
                summary: String::new(),
                evidence: vec![],
                supersedes: None,
                notes: vec![],
            }],
        },
    );
    // A new process folds the log and resumes.
    let mut sched = Scheduler::new(SchedulerConfig::default());
    let step = sched.resume(
        &h.state,
        Event::RunResumed {
            model: "m".into(),
            agents: 1,
        },
    );
    assert!(
        step.events
            .iter()
            .any(|e| matches!(e, Event::TaskRequeued { task, .. } if task == "T1"))
    );
    let jobs: Vec<&VerifyJob> = step
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Verify(j) => Some(j),
            _ => None,
        })
        .collect();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].points[0].id, "P1");
    assert!(!jobs[0].reply, "nobody waits for a re-verification");
    h.sched = sched;
    h.apply(step);
    // Ids continue where the log left off.
    assert_eq!(task_of(&h.claim_task("a1")), "T1");
    let add = h.send(
        "a1",
        Request::AddTask {
            title: "three".into(),
            detail: String::new(),
        },
    );
    assert_eq!(
        add.reply,
        Some(Reply::TaskAdded {
            task: "T3".into(),
            existing: false
        })
    );
    // The index of tasks by content is rebuilt on resume: T2 ("two") is still queued.
    let again = h.send(
        "a1",
        Request::AddTask {
            title: "two".into(),
            detail: String::new(),
        },
    );
    assert_eq!(
        again.reply,
        Some(Reply::TaskAdded {
            task: "T2".into(),
            existing: true
        })
    );
}

#[test]
fn an_open_task_is_not_added_twice_but_a_finished_one_may_be_again() {
    let mut h = Harness::delm(2, &["plan"]);
    let plan = h.claim_task("a1");
    let add = |h: &mut Harness, title: &str, detail: &str| {
        h.send(
            "a1",
            Request::AddTask {
                title: title.into(),
                detail: detail.into(),
            },
        )
    };
    let first = add(&mut h, "read part A", "pages 1-3");
    assert_eq!(
        first.reply,
        Some(Reply::TaskAdded {
            task: "T2".into(),
            existing: false
        })
    );
    assert_eq!(first.events.len(), 1);
    // The same title and detail (surrounding spaces aside): the queued one, no event.
    let twin = add(&mut h, " read part A ", "pages 1-3");
    assert_eq!(
        twin.reply,
        Some(Reply::TaskAdded {
            task: "T2".into(),
            existing: true
        })
    );
    assert!(twin.events.is_empty(), "{:?}", twin.events);
    // Another detail is another task.
    let other = add(&mut h, "read part A", "pages 4-6");
    assert!(matches!(
        other.reply,
        Some(Reply::TaskAdded {
            existing: false,
            ..
        })
    ));
    // In progress still counts; once done, the same task may be asked for again.
    let part_a = h.claim_task("a2");
    assert_eq!(part_a.task(), Some("T2"));
    assert!(matches!(
        add(&mut h, "read part A", "pages 1-3").reply,
        Some(Reply::TaskAdded { existing: true, .. })
    ));
    h.finish("a2", &part_a);
    assert_eq!(
        add(&mut h, "read part A", "pages 1-3").reply,
        Some(Reply::TaskAdded {
            task: "T4".into(),
            existing: false
        })
    );
    h.finish("a1", &plan);
}

#[test]
fn outside_participants_join_with_a_lease_and_leave_cleanly() {
    let mut h = Harness::delm(1, &["one"]);
    let join = Request::Join {
        name: "claude-code".into(),
        kind: super::super::protocol::ParticipantKind::Mcp,
    };
    h.send("x1-abc", join);
    let a = &h.state.agents["x1-abc"];
    assert_eq!(
        (a.name.as_deref(), a.kind.as_deref()),
        (Some("claude-code"), Some("mcp"))
    );
    h.claim_task("x1-abc");
    assert!(
        h.sched.next_lease_deadline().is_some(),
        "an outside claim is leased"
    );
    h.send("x1-abc", Request::Leave);
    assert_eq!(h.state.task("T1").unwrap().state, TaskState::Queued);
    assert_eq!(h.state.agents["x1-abc"].status, AgentStatus::Stopped);
}

#[test]
fn points_still_verifying_when_the_run_ends_are_marked_abandoned() {
    let mut h = Harness::delm(1, &["one"]);
    let c = h.claim_task("a1");
    h.send(
        "a1",
        Request::Propose {
            claim: c,
            points: vec![PointDraft {
                kind: PointKind::Partial,
                headline: "h".into(),
                summary: String::new(),
                evidence: vec![],
                supersedes: None,
                notes: vec![],
            }],
        },
    );
    h.control(Control::Stop);
    let p = h.state.point("P1").unwrap();
    assert_eq!(p.status, PointStatus::Rejected);
    assert!(
        p.note
            .as_deref()
            .unwrap()
            .starts_with("abandoned: the human stopped")
    );
    // Its verdict, arriving late, changes nothing.
    let step = h
        .sched
        .verdicts(&h.state, vec![("P1".into(), Ok((vec![], None)))]);
    assert!(step.events.is_empty());
}

fn join_remote(h: &mut Harness, agent: &str) {
    let join = Request::Join {
        name: "host w1".into(),
        kind: super::super::protocol::ParticipantKind::Remote,
    };
    assert_eq!(h.send(agent, join).reply, Some(Reply::Ok));
}

#[test]
fn worker_agent_ids_are_recognised() {
    assert_eq!(worker_agent("w2.a3"), Some((2, 3)));
    assert_eq!(worker_agent("w10.a128"), Some((10, 128)));
    for not in [
        "a3",
        "w2",
        "w.a3",
        "w2.3",
        "w2.a",
        "x1-w2.a3",
        "w2.a3b",
        "w99999999999.a1",
    ] {
        assert_eq!(worker_agent(not), None, "{not}");
    }
}

/// Two workers' agents each finish a task, w2.a1 last, at `last_at`.
fn two_worker_agents_done(last_at: Duration) -> Harness {
    let mut h = Harness::delm(0, &["one", "two"]);
    join_remote(&mut h, "w1.a1");
    join_remote(&mut h, "w2.a1");
    let c1 = h.claim_task("w1.a1");
    let c2 = h.claim_task("w2.a1");
    h.finish("w1.a1", &c1);
    h.now = last_at;
    h.finish("w2.a1", &c2);
    h
}

#[test]
fn worker_agents_finalise_and_a_silent_last_finisher_lets_another() {
    let mut h = two_worker_agents_done(Duration::from_secs(10));
    assert!(
        matches!(h.claim("w1.a1"), ClaimReply::Wait { .. }),
        "w2.a1 finished last and is alive: it finalises"
    );
    assert!(matches!(h.claim("w2.a1"), ClaimReply::Finalise { .. }));

    // The same, but the last finisher goes silent (its worker died) past the lease.
    let mut h = two_worker_agents_done(Duration::ZERO);
    h.now = Duration::from_secs(121);
    assert!(
        matches!(h.claim("w1.a1"), ClaimReply::Finalise { .. }),
        "nobody heard of w2.a1 for a lease: w1.a1 may finalise"
    );
    // An outside (MCP) participant never finalises.
    let mut h = Harness::delm(0, &[]);
    h.sched.lease("x1-abc");
    assert!(matches!(h.claim("x1-abc"), ClaimReply::Wait { .. }));
}

#[test]
fn the_board_may_run_no_agents_once_worker_agents_take_part() {
    let mut h = Harness::delm(2, &["one"]);
    h.control(Control::SetAgents { count: 0 });
    assert_eq!(
        h.state.desired_agents, 1,
        "no workers yet: one agent at least"
    );
    join_remote(&mut h, "w1.a1");
    h.control(Control::SetAgents { count: 0 });
    assert_eq!(h.state.desired_agents, 0);
}

#[test]
fn resume_keeps_the_leases_of_participants_that_joined() {
    let mut h = Harness::delm(0, &["one", "two"]);
    join_remote(&mut h, "w1.a1");
    h.claim_task("w1.a1");
    let mut sched = Scheduler::new(SchedulerConfig::default());
    let step = sched.resume(
        &h.state,
        Event::RunResumed {
            model: "m".into(),
            agents: 0,
        },
    );
    h.sched = sched;
    h.apply(step);
    h.claim_task("w1.a1");
    assert_eq!(
        h.sched.next_lease_deadline(),
        Some(Duration::from_secs(120)),
        "a claim after the restart is leased without a second join"
    );
}

#[test]
fn evidence_the_point_rules_accept_reaches_verification_whole() {
    use crate::engine::point_args::{MAX_QUOTE_BYTES, MAX_SOURCE_BYTES};
    let mut h = Harness::delm(1, &["one"]);
    let c = h.claim_task("a1");
    let quote = "q".repeat(MAX_QUOTE_BYTES);
    let source = format!("{}.txt", "s".repeat(MAX_SOURCE_BYTES - 4));
    let draft = PointDraft {
        kind: PointKind::Finding,
        headline: "h".into(),
        summary: String::new(),
        evidence: vec![crate::event::Evidence {
            source: source.clone(),
            lines: None,
            quote: quote.clone(),
            resolved: None,
        }],
        supersedes: None,
        notes: vec![],
    };
    let step = h.send(
        "a1",
        Request::Propose {
            claim: c,
            points: vec![draft],
        },
    );
    let Some(Effect::Verify(job)) = step.effects.first() else {
        panic!("a verify job is due: {:?}", step.effects)
    };
    assert_eq!(job.points[0].evidence[0].quote, quote);
    assert_eq!(job.points[0].evidence[0].source, source);
}

#[test]
fn the_standby_finaliser_takes_no_task_only_the_finalise_turn() {
    use super::super::policy::STANDBY_FINALISER;
    let mut h = Harness::delm(0, &["one"]);
    let join = Request::Join {
        name: "claude-code".into(),
        kind: super::super::protocol::ParticipantKind::CliWorker,
    };
    h.send("claude-1", join);
    assert!(
        matches!(h.claim(STANDBY_FINALISER), ClaimReply::Wait { .. }),
        "a queued task is left to the workers"
    );
    let c = h.claim_task("claude-1");
    assert!(matches!(
        h.claim(STANDBY_FINALISER),
        ClaimReply::Wait { .. }
    ));
    h.finish("claude-1", &c);
    assert!(
        matches!(h.claim("claude-1"), ClaimReply::Wait { .. }),
        "an outside worker never finalises"
    );
    assert!(matches!(
        h.claim(STANDBY_FINALISER),
        ClaimReply::Finalise { .. }
    ));
}
