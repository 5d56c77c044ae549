use super::*;

fn tenant(class: Class, weight: f64) -> TenantPolicy {
    TenantPolicy { class, weight, shed_rank: 0, limits: Limits::default(), max_concurrency: None, deadline: None }
}

fn gateway(tenants: Vec<TenantPolicy>, max_in_flight: u64) -> Gateway {
    Gateway::new(GatewayConfig {
        tenants,
        global: Limits::default(),
        max_in_flight: vec![max_in_flight],
        aging: None,
        preemption: false,
        admission: AdmissionConfig::open(),
    })
}

fn offer(g: &mut Gateway, now: SimTime, id: u64, tenant: u32) -> Vec<Action> {
    let mut out = Vec::new();
    g.handle(now, Input::Offer(Offer { request: RequestId(id), tenant, tokens: 100, cost: 1.0 }), &mut out);
    out
}

fn done(g: &mut Gateway, now: SimTime, id: u64, outcome: Outcome) -> Vec<Action> {
    let mut out = Vec::new();
    g.handle(now, Input::Done { request: RequestId(id), outcome }, &mut out);
    out
}

fn dispatched(out: &[Action]) -> Vec<u64> {
    out.iter().filter_map(|a| if let Action::Dispatch { request, .. } = a { Some(request.0) } else { None }).collect()
}

#[test]
fn a_rate_limited_offer_carries_the_exact_retry_after_and_charges_nothing() {
    let mut t = tenant(Class::Streaming, 1.0);
    // 2 requests/s, burst 1; 300 tokens/s, burst 300 tokens.
    t.limits = Limits { requests: Some(Gcra::new(2.0, 1.0)), tokens: Some(Gcra::new(300.0, 300.0)) };
    let mut g = gateway(vec![t], 10);
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 0, 0)), vec![0]);
    let out = offer(&mut g, SimTime(100_000_000), 1, 0);
    // The request limit conforms at 500 ms; tokens (100 of 300/s) already do.
    let [Action::Reject { reason: Reason::RateLimited, retry_after: Some(after), .. }] = out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(after, SimDuration::from_millis(400));
    assert_eq!(dispatched(&offer(&mut g, SimTime(500_000_000), 2, 0)), vec![2], "conforms exactly then");
    assert_eq!(g.counts()[0].rejected.of(Reason::RateLimited), 1);
}

#[test]
fn batch_is_starved_by_strict_priority_and_served_with_aging() {
    for aging in [None, Some(SimDuration::from_secs(1))] {
        let mut g = gateway(vec![tenant(Class::Realtime, 1.0), tenant(Class::Batch, 1.0)], 1);
        g.cfg.aging = aging;
        let mut served_batch = 0;
        let mut in_pool = dispatched(&offer(&mut g, SimTime::ZERO, 0, 0));
        // A realtime flood keeps the one slot busy for 100 s; one batch request waits.
        assert!(offer(&mut g, SimTime::ZERO, 1_000_000, 1).is_empty());
        for ms in 1..100_000u64 {
            let now = SimTime(ms * 1_000_000);
            let mut out = offer(&mut g, now, ms, 0);
            if let Some(r) = in_pool.pop() {
                out.extend(done(&mut g, now, r, Outcome::Completed));
            }
            for r in dispatched(&out) {
                served_batch += u64::from(r == 1_000_000);
                in_pool.push(r);
            }
        }
        assert_eq!(served_batch, u64::from(aging.is_some()), "aging {aging:?}");
    }
}

#[test]
fn realtime_preempts_the_latest_batch_request_which_is_requeued() {
    let mut g = gateway(vec![tenant(Class::Realtime, 1.0), tenant(Class::Batch, 1.0)], 2);
    g.cfg.preemption = true;
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 0, 1)), vec![0]);
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 1, 1)), vec![1]);
    let out = offer(&mut g, SimTime(1), 2, 0);
    assert_eq!(out, vec![Action::Preempt { request: RequestId(1) }]);
    // The core answers the preempted request Cancelled: not final, requeued;
    // the slot goes to the realtime request.
    let out = done(&mut g, SimTime(2), 1, Outcome::Cancelled);
    assert_eq!(
        out,
        vec![Action::Requeued { request: RequestId(1) }, Action::Dispatch { request: RequestId(2), pool: 0 }]
    );
    assert_eq!(g.counts()[1].preempted, 1);
    assert_eq!(g.queued(), 1);
    // When the realtime request finishes, the batch request runs again.
    assert_eq!(dispatched(&done(&mut g, SimTime(3), 2, Outcome::Completed)), vec![1]);
}

#[test]
fn a_realtime_tenant_at_its_concurrency_cap_preempts_nothing() {
    let mut rt = tenant(Class::Realtime, 1.0);
    rt.max_concurrency = Some(1);
    let mut g = gateway(vec![rt, tenant(Class::Batch, 1.0)], 2);
    g.cfg.preemption = true;
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 0, 0)), vec![0]);
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 1, 1)), vec![1]);
    // The realtime tenant's second request waits for its own answer, not
    // for the pool: preempting batch request 1 would only free a slot that
    // request 1 takes back at once, forever.
    let out = offer(&mut g, SimTime::ZERO, 2, 0);
    assert!(out.is_empty(), "{out:?}");
    // Its answer frees the tenant: request 2 takes that slot, still without preemption.
    let out = done(&mut g, SimTime(1), 0, Outcome::Completed);
    assert_eq!(out, vec![Action::Dispatch { request: RequestId(2), pool: 0 }]);
}

#[test]
fn withdrawn_requests_leave_the_queue_or_are_cancelled_in_the_pool() {
    let mut g = gateway(vec![tenant(Class::Streaming, 1.0)], 1);
    offer(&mut g, SimTime::ZERO, 0, 0);
    offer(&mut g, SimTime::ZERO, 1, 0);
    let mut out = Vec::new();
    g.handle(SimTime(1), Input::Withdraw { request: RequestId(1) }, &mut out);
    assert!(matches!(out[..], [Action::Reject { reason: Reason::Withdrawn, .. }]), "{out:?}");
    out.clear();
    g.handle(SimTime(1), Input::Withdraw { request: RequestId(0) }, &mut out);
    assert_eq!(out, vec![Action::Cancel { request: RequestId(0) }]);
    assert!(done(&mut g, SimTime(2), 0, Outcome::Cancelled).is_empty());
    assert_eq!((g.queued(), g.in_flight(0)), (0, 0));
}

#[test]
fn concurrency_caps_and_deadlines_hold_requests_back() {
    let mut t = tenant(Class::Streaming, 1.0);
    t.max_concurrency = Some(1);
    t.deadline = Some(SimDuration::from_secs(1));
    let mut g = gateway(vec![t, tenant(Class::Streaming, 1.0)], 10);
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 0, 0)), vec![0]);
    assert!(dispatched(&offer(&mut g, SimTime::ZERO, 1, 0)).is_empty(), "capped at 1 in flight");
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 2, 1)), vec![2], "another tenant is not held");
    let out = done(&mut g, SimTime(2_000_000_000), 0, Outcome::Completed);
    assert!(matches!(out[..], [Action::Reject { reason: Reason::Expired, .. }]), "{out:?}");
}

#[test]
fn degradation_sends_what_the_primary_refuses_through_the_same_checks_on_the_fallback() {
    let mut limited = tenant(Class::Streaming, 1.0);
    limited.limits.requests = Some(Gcra::new(1.0, 4.0));
    let mut g = Gateway::new(GatewayConfig {
        tenants: vec![limited],
        global: Limits::default(),
        max_in_flight: vec![1, 1],
        aging: None,
        preemption: false,
        admission: AdmissionConfig { max_queue: Some(1), ..AdmissionConfig::open() },
    });
    let pools = |out: &[Action]| -> Vec<(u64, usize)> {
        out.iter()
            .filter_map(|a| if let Action::Dispatch { request, pool } = a { Some((request.0, *pool)) } else { None })
            .collect()
    };
    assert_eq!(pools(&offer(&mut g, SimTime::ZERO, 0, 0)), vec![(0, 0)]);
    assert!(offer(&mut g, SimTime::ZERO, 1, 0).is_empty(), "queued for the primary");
    assert_eq!(pools(&offer(&mut g, SimTime::ZERO, 2, 0)), vec![(2, 1)], "primary queue full: degraded");
    assert!(offer(&mut g, SimTime::ZERO, 3, 0).is_empty(), "queued for the fallback");
    // The rate limit (burst 4) is charged once and refuses before either pool.
    let out = offer(&mut g, SimTime::ZERO, 4, 0);
    assert!(matches!(out[..], [Action::Reject { reason: Reason::RateLimited, .. }]), "{out:?}");
    // Both queues full: refused with the primary's reason and its queue position.
    let out = offer(&mut g, SimTime(1_000_000_000), 5, 0);
    assert!(matches!(out[..], [Action::Reject { reason: Reason::QueueFull, position: Some(1), .. }]), "{out:?}");
    assert_eq!((g.counts()[0].admitted, g.counts()[0].degraded), (4, 2));
    // Each pool's answers free its own slot.
    assert_eq!(pools(&done(&mut g, SimTime(2), 2, Outcome::Completed)), vec![(3, 1)]);
    assert_eq!(pools(&done(&mut g, SimTime(2), 0, Outcome::Completed)), vec![(1, 0)]);
}

#[test]
fn the_global_token_limit_spans_tenants_and_a_refusal_charges_no_limit() {
    let mut g = gateway(vec![tenant(Class::Streaming, 1.0), tenant(Class::Streaming, 1.0)], 10);
    // 1000 tokens/s for everyone together, burst 250 (each offer is 100 tokens).
    g.cfg.global.tokens = Some(Gcra::new(1000.0, 250.0));
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 0, 0)), vec![0]);
    assert_eq!(dispatched(&offer(&mut g, SimTime::ZERO, 1, 1)), vec![1]);
    let out = offer(&mut g, SimTime::ZERO, 2, 0);
    // TAT 200 ms; 100 more tokens conform at 200 + 99 - 249 = 50 ms.
    let [Action::Reject { reason: Reason::RateLimited, retry_after: Some(after), .. }] = out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(after, SimDuration::from_millis(50));
    assert_eq!(dispatched(&offer(&mut g, SimTime(50_000_000), 3, 1)), vec![3], "the refusal charged nothing");
}
