//! The machine's rules, over chosen paths and over random input sequences.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::interaction::FlowRouting;

const DECISION_AT: Duration = Duration::from_secs(45);
const DEADLINE_AT: Duration = Duration::from_secs(60);
const WORK_ITEM: &str = "0Mw5g000000WORK";
const REP: &str = "0055g00000REP01";

fn setup(plan: Plan) -> Setup {
    Setup {
        plan,
        resumed: None,
        work_item_id: None,
        route: None,
        agent_work_id: None,
        correlation_id: Some("event-1".to_owned()),
        decision_at: DECISION_AT,
        deadline_at: DEADLINE_AT,
        result_reserve: Duration::from_secs(5),
        agent_work_margin: Duration::from_secs(10),
        timeout_message: "the partner made no routing decision within 45 s".to_owned(),
        owed_follow_up: None,
    }
}

fn queue() -> Target {
    Target::Route {
        routing_info: RoutingInfo {
            queue_id: Some("00G5g000000QUEUE".to_owned()),
            ..RoutingInfo::default()
        },
        kind: "queue",
    }
}

fn flow() -> Target {
    Target::Route {
        routing_info: RoutingInfo {
            flow: Some(FlowRouting {
                flow_id: "3005g000000FLOW".to_owned(),
                queue_id: "00G5g000000FALL".to_owned(),
            }),
            ..RoutingInfo::default()
        },
        kind: "flow",
    }
}

fn routed() -> Decision {
    Decision::Routed {
        externally_routed: false,
    }
}

fn receipt() -> RouteReceipt {
    RouteReceipt {
        psr_id: Some("0JR5g000000PSR1".to_owned()),
        routing_correlation_id: Some("route-correlation".to_owned()),
    }
}

/// Feeds `inputs` at `at`, collecting every action.
fn run(machine: &mut Machine, inputs: &[(Input, u64)]) -> Vec<Action> {
    let mut actions = Vec::new();
    for (input, at) in inputs {
        actions.extend(machine.step(input.clone(), Duration::from_secs(*at)));
    }
    actions
}

fn is_stored_decision(action: &Action) -> bool {
    matches!(
        action,
        Action::Write {
            record: Record::Decided(_),
            ..
        }
    )
}

#[test]
fn a_partner_answer_is_written_then_posted_then_recorded_posted() {
    let mut machine = Machine::new(setup(Plan::Partner));
    let actions = run(
        &mut machine,
        &[
            (Input::Start, 0),
            (Input::Partner(PartnerReply::Decided(routed())), 1),
            (Input::Claimed, 1),
            (Input::WorkItem(Ok(WORK_ITEM.to_owned())), 2),
        ],
    );
    assert!(actions.contains(&Action::AskPartner));
    let last = actions.last().unwrap();
    assert!(is_stored_decision(last), "{last:?}");
    assert!(!actions
        .iter()
        .any(|action| matches!(action, Action::PostRoutingResult { .. })));
    let actions = machine.step(Input::DecisionStored(Ok(())), Duration::from_secs(2));
    assert_eq!(
        actions,
        vec![Action::PostRoutingResult {
            decision: routed(),
            work_item_id: WORK_ITEM.to_owned()
        }]
    );
    let actions = machine.step(Input::Posted(PostOutcome::Posted), Duration::from_secs(3));
    assert_eq!(actions[0], Action::MarkPosted);
    assert_eq!(machine.ended(), Some(End::Posted));
}

#[test]
fn a_silent_partner_gets_success_false_at_the_decision_timeout() {
    let mut setup = setup(Plan::Partner);
    setup.work_item_id = Some(WORK_ITEM.to_owned());
    let mut machine = Machine::new(setup);
    let actions = run(
        &mut machine,
        &[
            (Input::Start, 0),
            (Input::Partner(PartnerReply::Accepted), 1),
            (Input::Timer(Timer::Decision), 45),
        ],
    );
    assert_eq!(
        actions.last(),
        Some(&Action::Claim(Claimant::DecisionTimeout))
    );
    let actions = run(
        &mut machine,
        &[(Input::Claimed, 45), (Input::DecisionStored(Ok(())), 45)],
    );
    assert!(actions.contains(&Action::Count(Count::DecisionTimedOut)));
    let Some(Action::PostRoutingResult { decision, .. }) = actions.last() else {
        panic!("{actions:?}");
    };
    assert!(!decision.is_success());
}

#[test]
fn a_queue_transfer_posts_route_then_routing_result() {
    let mut machine = Machine::new(setup(Plan::Salesforce(queue())));
    let actions = run(
        &mut machine,
        &[
            (Input::Start, 0),
            (Input::WorkItem(Ok(WORK_ITEM.to_owned())), 1),
            (Input::Claimed, 1),
        ],
    );
    assert!(
        matches!(actions.last(), Some(Action::PostRoute { kind: "queue", until, .. }) if *until == Duration::from_secs(55))
    );
    let actions = run(
        &mut machine,
        &[
            (Input::Route(Ok(receipt())), 2),
            (Input::DecisionStored(Ok(())), 2),
        ],
    );
    assert!(matches!(
        actions.first(),
        Some(Action::Write { route: Some(_), .. })
    ));
    assert!(matches!(
        actions.last(),
        Some(Action::PostRoutingResult { .. })
    ));
}

/// A queue transfer whose `/route` ended as `failure` says, with its answer stored and
/// posted: the actions of the last step.
fn queue_transfer_after_route_failure(permanent: bool) -> Vec<Action> {
    let mut machine = Machine::new(setup(Plan::Salesforce(queue())));
    let failure = CallFailure {
        text: "cut off".to_owned(),
        permanent,
    };
    run(
        &mut machine,
        &[
            (Input::Start, 0),
            (Input::WorkItem(Ok(WORK_ITEM.to_owned())), 1),
            (Input::Claimed, 1),
            (Input::Route(Err(failure)), 55),
            (Input::DecisionStored(Ok(())), 55),
        ],
    );
    let actions = machine.step(Input::Posted(PostOutcome::Posted), Duration::from_secs(56));
    assert_eq!(machine.ended(), Some(End::Posted));
    actions
}

#[test]
fn a_route_that_ended_unanswered_is_withdrawn_once_the_failure_is_posted() {
    let actions = queue_transfer_after_route_failure(false);
    assert_eq!(actions.last(), Some(&Action::WithdrawRoute));
}

#[test]
fn a_route_salesforce_refused_is_not_withdrawn() {
    let actions = queue_transfer_after_route_failure(true);
    assert!(!actions.contains(&Action::WithdrawRoute), "{actions:?}");
}

#[test]
fn a_cancel_after_a_route_ended_unanswered_deletes_the_route() {
    let mut machine = Machine::new(setup(Plan::Salesforce(queue())));
    let failure = CallFailure {
        text: "cut off".to_owned(),
        permanent: false,
    };
    let actions = run(
        &mut machine,
        &[
            (Input::Start, 0),
            (Input::WorkItem(Ok(WORK_ITEM.to_owned())), 1),
            (Input::Claimed, 1),
            (Input::Cancel, 2),
            (Input::Route(Err(failure)), 55),
        ],
    );
    assert_eq!(
        actions.last(),
        Some(&Action::Cleanup(Cleanup {
            delete_route: true,
            cancel_agent_work: None,
        }))
    );
    assert!(!actions.contains(&Action::WithdrawRoute), "{actions:?}");
}

#[test]
fn a_rep_assigned_after_a_route_carries_the_routes_correlation_id() {
    let mut setup = setup(Plan::Partner);
    setup.route = Some(receipt());
    setup.work_item_id = Some(WORK_ITEM.to_owned());
    let mut machine = Machine::new(setup);
    let actions = run(
        &mut machine,
        &[
            (Input::Start, 0),
            (
                Input::Sidecar {
                    decision: routed(),
                    assign: Some(REP.to_owned()),
                },
                3,
            ),
        ],
    );
    assert!(matches!(
        actions.last(),
        Some(Action::PostAgentWork { correlation_id: Some(id), .. }) if id == "route-correlation"
    ));
}

#[test]
fn a_rep_transfer_short_of_time_posts_first_and_owes_the_agent_work() {
    let mut setup = setup(Plan::Salesforce(Target::Rep {
        user_id: REP.to_owned(),
    }));
    setup.work_item_id = Some(WORK_ITEM.to_owned());
    let mut machine = Machine::new(setup);
    let actions = run(
        &mut machine,
        &[
            (Input::Start, 52),
            (Input::Claimed, 52),
            (Input::DecisionStored(Ok(())), 52),
            (Input::Posted(PostOutcome::Posted), 53),
        ],
    );
    assert!(!actions
        .iter()
        .any(|action| matches!(action, Action::PostAgentWork { .. })));
    assert!(matches!(actions.last(), Some(Action::FollowUp { user_id, .. }) if user_id == REP));
    machine.step(Input::FollowUpDone(true), Duration::from_secs(54));
    assert_eq!(machine.ended(), Some(End::Posted));
}

#[test]
fn a_cancel_while_agent_work_is_out_cancels_the_agent_work_it_made() {
    let mut setup = setup(Plan::Salesforce(Target::Rep {
        user_id: REP.to_owned(),
    }));
    setup.work_item_id = Some(WORK_ITEM.to_owned());
    let mut machine = Machine::new(setup);
    let actions = run(
        &mut machine,
        &[
            (Input::Start, 0),
            (Input::Claimed, 0),
            (Input::Cancel, 1),
            (Input::AgentWork(Ok(Some("0Bz5g000000WORK".to_owned()))), 2),
        ],
    );
    assert!(!actions.iter().any(is_stored_decision));
    assert_eq!(
        actions.last(),
        Some(&Action::Cleanup(Cleanup {
            delete_route: false,
            cancel_agent_work: Some("0Bz5g000000WORK".to_owned()),
        }))
    );
    assert_eq!(machine.ended(), Some(End::Cancelled));
}

#[test]
fn shutdown_stores_a_decision_still_waiting_for_its_work_item() {
    let mut machine = Machine::new(setup(Plan::Reject));
    let actions = run(
        &mut machine,
        &[(Input::Start, 0), (Input::Claimed, 0), (Input::Shutdown, 1)],
    );
    assert!(is_stored_decision(actions.last().unwrap()));
    assert_eq!(machine.ended(), Some(End::Stopped));
}

fn plan() -> impl Strategy<Value = Plan> {
    prop_oneof![
        Just(Plan::Partner),
        Just(Plan::NoPartner),
        Just(Plan::Reject),
        Just(Plan::Salesforce(queue())),
        Just(Plan::Salesforce(flow())),
        Just(Plan::Salesforce(Target::Rep {
            user_id: REP.to_owned()
        })),
        Just(Plan::Salesforce(Target::Answer(Decision::Routed {
            externally_routed: true
        }))),
    ]
}

fn decision() -> impl Strategy<Value = Decision> {
    prop_oneof![
        any::<bool>().prop_map(|externally_routed| Decision::Routed { externally_routed }),
        Just(Decision::failed("busy")),
    ]
}

fn failure() -> impl Strategy<Value = CallFailure> {
    any::<bool>().prop_map(|permanent| CallFailure {
        text: "refused".to_owned(),
        permanent,
    })
}

fn partner_reply() -> impl Strategy<Value = PartnerReply> {
    prop_oneof![
        decision().prop_map(PartnerReply::Decided),
        Just(PartnerReply::Accepted),
        Just(PartnerReply::Refused("no".to_owned())),
        Just(PartnerReply::Unreachable),
    ]
}

fn post_outcome() -> impl Strategy<Value = PostOutcome> {
    prop_oneof![
        3 => Just(PostOutcome::Posted),
        1 => Just(PostOutcome::Refused("10012".to_owned())),
        1 => Just(PostOutcome::Missed("late".to_owned())),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => partner_reply().prop_map(Input::Partner),
        4 => Just(Input::Claimed),
        1 => Just(Input::ClaimLost),
        1 => (decision(), proptest::option::of(Just(REP.to_owned())))
            .prop_map(|(decision, assign)| Input::Sidecar { decision, assign }),
        2 => prop_oneof![Just(Ok(WORK_ITEM.to_owned())), Just(Err("none".to_owned()))]
            .prop_map(Input::WorkItem),
        1 => Just(Input::Timer(Timer::Decision)),
        1 => Just(Input::Timer(Timer::Deadline)),
        1 => prop_oneof![Just(Ok(receipt())), failure().prop_map(Err)].prop_map(Input::Route),
        1 => prop_oneof![
            Just(Ok(Some("0Bz5g000000WORK".to_owned()))),
            failure().prop_map(Err)
        ]
        .prop_map(Input::AgentWork),
        4 => prop_oneof![4 => Just(Ok(())), 1 => Just(Err("disk".to_owned()))]
            .prop_map(Input::DecisionStored),
        3 => post_outcome().prop_map(Input::Posted),
        1 => any::<bool>().prop_map(Input::FollowUpDone),
        1 => Just(Input::Cancel),
        1 => Just(Input::Shutdown),
    ]
}

/// What the proptest watches across one run.
#[derive(Default)]
#[allow(clippy::struct_excessive_bools)]
struct Watch {
    /// The decision in the last `Decided` write, and whether the store confirmed it.
    written: Option<Decision>,
    confirmed: bool,
    posted: Vec<Decision>,
    replies: usize,
    agent_work_asked: bool,
    route_asked: bool,
    timeout_claimed: bool,
    timeout_won: bool,
    cancel_seen: bool,
    /// A `/route` in flight ended without saying whether it created a route.
    route_unconfirmed: bool,
    withdrawn: bool,
}

proptest! {
    /// Whatever arrives in whatever order: the decision is stored before it is posted, one
    /// routingResult at most and never after the deadline, the sidecar hears once, a won
    /// decision timeout is answered `success=false`, transfers call `/route` or `/agentWork`
    /// before routingResult, cleanup follows only a cancellation, a route is withdrawn only
    /// when `/route` ended unanswered and only once the request has ended, and an ended request
    /// does nothing more.
    #[test]
    fn routing_answers_once_stored_first_and_in_the_documented_order(
        plan in plan(),
        resumed in proptest::option::of(decision()),
        work_item_known in any::<bool>(),
        steps in proptest::collection::vec((input(), 0u64..8_000), 1..40),
    ) {
        let mut setup = setup(plan.clone());
        setup.resumed = resumed.clone().map(|decision| Verdict {
            decision,
            source: DecisionSource::Partner,
            follow_up: None,
        });
        setup.work_item_id = work_item_known.then(|| WORK_ITEM.to_owned());
        let mut machine = Machine::new(setup);
        let mut watch = Watch {
            written: resumed.clone(),
            confirmed: resumed.is_some(),
            ..Watch::default()
        };
        let mut now = Duration::ZERO;
        let mut steps: Vec<(Input, u64)> = steps;
        steps.insert(0, (Input::Start, 0));
        for (input, advance_ms) in steps {
            now += Duration::from_millis(advance_ms);
            match input {
                Input::Timer(Timer::Decision) => now = now.max(DECISION_AT),
                Input::Timer(Timer::Deadline) => now = now.max(DEADLINE_AT),
                _ => {}
            }
            if input == Input::Cancel {
                watch.cancel_seen = true;
            }
            if matches!(&input, Input::Route(Err(failure)) if !failure.permanent)
                && watch.route_asked
                && watch.posted.is_empty()
            {
                watch.route_unconfirmed = true;
            }
            if input == Input::Claimed && watch.timeout_claimed {
                watch.timeout_won = true;
            }
            watch.timeout_claimed = false;
            if matches!(input, Input::DecisionStored(Ok(()))) && watch.written.is_some() {
                watch.confirmed = true;
            }
            let was_done = machine.ended().is_some();
            let actions = machine.step(input, now);
            prop_assert!(!was_done || actions.is_empty(), "an ended request acted: {actions:?}");
            if actions.contains(&Action::WithdrawRoute) {
                prop_assert!(machine.ended().is_some(), "a route withdrawn before the request ended");
            }
            for action in actions {
                match action {
                    Action::Write { record: Record::Decided(verdict), .. } => {
                        prop_assert!(watch.posted.is_empty());
                        watch.written = Some(verdict.decision);
                        watch.confirmed = false;
                    }
                    Action::PostRoutingResult { decision, work_item_id } => {
                        prop_assert_eq!(work_item_id.as_str(), WORK_ITEM);
                        prop_assert!(watch.confirmed, "posted before the decision was stored");
                        prop_assert_eq!(Some(&decision), watch.written.as_ref());
                        prop_assert!(now < DEADLINE_AT, "posted at or after the deadline");
                        prop_assert!(watch.posted.is_empty(), "a second routingResult");
                        if watch.timeout_won {
                            prop_assert!(!decision.is_success());
                        }
                        if resumed.is_none() {
                            match &plan {
                                Plan::Salesforce(Target::Route { .. }) => prop_assert!(
                                    watch.route_asked || !decision.is_success()
                                ),
                                Plan::Salesforce(Target::Rep { .. }) => {
                                    prop_assert!(!watch.route_asked);
                                }
                                _ => prop_assert!(!watch.route_asked),
                            }
                        }
                        watch.posted.push(decision);
                    }
                    Action::PostRoute { routing_info, .. } => {
                        let Plan::Salesforce(Target::Route { routing_info: planned, .. }) = &plan
                        else {
                            return Err(TestCaseError::fail("a route the plan does not name"));
                        };
                        prop_assert_eq!(&routing_info, planned);
                        prop_assert!(watch.posted.is_empty() && !watch.agent_work_asked);
                        watch.route_asked = true;
                    }
                    Action::PostAgentWork { until, .. } => {
                        prop_assert!(watch.posted.is_empty(), "agentWork after routingResult");
                        prop_assert!(until < DEADLINE_AT);
                        watch.agent_work_asked = true;
                    }
                    Action::FollowUp { .. } => prop_assert_eq!(watch.posted.len(), 1),
                    Action::Reply(_) => {
                        watch.replies += 1;
                        prop_assert!(watch.replies <= 1, "the sidecar heard twice");
                    }
                    Action::Cleanup(_) => prop_assert!(watch.cancel_seen),
                    Action::WithdrawRoute => {
                        prop_assert!(watch.route_unconfirmed, "a route withdrawn that /route refused or made");
                        prop_assert!(!watch.withdrawn, "a route withdrawn twice");
                        watch.withdrawn = true;
                    }
                    Action::Claim(Claimant::DecisionTimeout) => watch.timeout_claimed = true,
                    _ => {}
                }
            }
        }
    }
}
