//! `docs/access-control.md` shows the permission matrix the code enforces, exactly.

const DOC: &str = include_str!("../../../docs/access-control.md");
const BEGIN: &str = "<!-- matrix:begin -->\n";
const END: &str = "<!-- matrix:end -->";

#[test]
fn the_documented_matrix_is_the_enforced_one() {
    let start = DOC.find(BEGIN).expect("matrix:begin marker") + BEGIN.len();
    let end = DOC.find(END).expect("matrix:end marker");
    let expected = scrim_auth::rbac::matrix_markdown();
    assert_eq!(
        &DOC[start..end],
        expected,
        "docs/access-control.md is out of date; replace the table with:\n{expected}"
    );
}
