"""webui.providers.lines: an upstream body's bytes read as lines, and lines read as server-sent events."""
import pytest

from webui.providers.lines import MAX_LINE, LineTooLong, sse_data, text_lines


def test_lines_end_at_any_line_break_even_one_split_across_chunks():
    chunks = [b"one\r", b"\ntwo\rthree\n", b"four\r\n"]
    assert list(text_lines(chunks)) == ["one", "two", "three", "four"]


def test_a_character_split_across_chunks_is_decoded_whole_and_a_bad_byte_costs_one_character():
    snowman = "☃".encode()
    chunks = [b"a" + snowman[:1], snowman[1:] + b"\xffb\n"]
    assert list(text_lines(chunks)) == ["a☃\ufffdb"]


def test_a_last_line_without_its_line_break_is_dropped_as_a_fragment():
    assert list(text_lines([b"whole\nfragm", b"ent"])) == ["whole"]


def test_a_line_that_never_ends_is_refused_instead_of_held():
    lines = text_lines(b"x" * 65536 for _ in range(MAX_LINE // 65536 + 2))
    with pytest.raises(LineTooLong):
        list(lines)


def test_server_sent_events_give_their_data_without_comments_other_fields_or_a_cut_last_event():
    lines = [": comment", "event: message", "data: {\"a\":", "data:1}", "", "", "id: 7", "data: last", ""]
    assert list(sse_data(lines + ["data: cut off"])) == ['{"a":\n1}', "last"]
