//! The eval report on a tiny set whose numbers are worked out by hand.

use kefu_kb::eval::{EvalCase, Outcome, Report};
use kefu_kb::Decision;

fn case(q: &str, exp: Option<&str>) -> EvalCase {
    EvalCase {
        question: q.into(),
        expected_external_id: exp.map(String::from),
        locale: None,
    }
}

fn out(ids: &[&str], d: Decision) -> Outcome {
    Outcome {
        ranked_external_ids: ids.iter().map(|s| Some(s.to_string())).collect(),
        decision: d,
    }
}

#[test]
fn report_numbers_by_hand() {
    let cases = vec![
        case("q1", Some("a")), // rank 1, answered (correct)
        case("q2", Some("b")), // rank 2, suggested
        case("q3", Some("c")), // rank 4, answered (wrong)
        case("q4", Some("d")), // not found, handed off
        case("o1", None),      // off-topic, handed off
        case("o2", None),      // off-topic, answered (wrong)
    ];
    let outcomes = vec![
        out(&["a", "b"], Decision::Answer),
        out(&["a", "b", "c"], Decision::Suggest),
        out(&["a", "b", "x", "c"], Decision::Answer),
        out(&["a"], Decision::Handoff),
        out(&["a"], Decision::Handoff),
        out(&["b"], Decision::Answer),
    ];
    let r = Report::compute(&cases, &outcomes);
    assert_eq!((r.cases, r.in_scope, r.off_topic, r.answered), (6, 4, 2, 3));
    assert!((r.hit_at_1 - 0.25).abs() < 1e-9); // q1
    assert!((r.hit_at_3 - 0.5).abs() < 1e-9); // q1, q2
    assert!((r.mrr - (1.0 + 0.5 + 0.25 + 0.0) / 4.0).abs() < 1e-9);
    assert!((r.answer_precision - 1.0 / 3.0).abs() < 1e-9); // q1 of q1, q3, o2
    assert!((r.outright - 0.25).abs() < 1e-9); // q1 of four in scope
    assert!((r.coverage - 0.75).abs() < 1e-9); // q1, q2, q3
    assert!((r.off_topic_handoff - 0.5).abs() < 1e-9); // o1
    let text = r.render_text();
    assert!(text.contains("hit@1              0.250"), "{text}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["in_scope"], 4);
    assert_eq!(Report::compute(&[], &[]), Report::default());
}

#[test]
fn jsonl_cases_parse() {
    let text = "{\"question\": \"怎么退款\", \"expected_external_id\": \"refund\", \"locale\": \"zh-CN\"}\n\n{\"question\": \"hi\", \"expected_external_id\": null}\n";
    let cases = EvalCase::parse_jsonl(text).unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].expected_external_id.as_deref(), Some("refund"));
    assert_eq!(cases[1].locale, None);
    assert!(EvalCase::parse_jsonl("{oops")
        .unwrap_err()
        .starts_with("line 1"));
    assert_eq!(
        serde_json::to_string(&Decision::Suggest).unwrap(),
        "\"suggest\""
    );
}
