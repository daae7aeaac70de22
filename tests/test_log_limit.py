"""One line per interval for a repeating event, with the count of lines left out."""

from lgsp.log_limit import LogLimit


def test_one_line_per_interval_and_the_count_of_the_rest():
    now = [0.0]
    limit = LogLimit(every_s=1.0, clock=lambda: now[0])
    assert limit.allow() == 0
    assert [limit.allow() for _ in range(5)] == [None] * 5
    now[0] = 1.0
    assert limit.allow() == 5  # the next line says how many were left out
    assert limit.allow() is None
    now[0] = 5.0
    assert limit.allow() == 1
