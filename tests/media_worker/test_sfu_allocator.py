"""The allocator (media_worker/sfu/allocator.py): a subscriber's slots fitted into its estimate."""

from __future__ import annotations

from media_worker.sfu.allocator import Track, allocate, priority, reduced

AUDIO = (40_000,)
LAYERS = (150_000, 600_000, 2_500_000)


def layout(thumbs: int = 4) -> list[Track]:
    tracks = [
        Track("thumb1/video", LAYERS, 0),  # out of order on purpose: priority sorts
        Track("main/video", LAYERS, 2),
        Track("chair/audio", AUDIO),
        Track("chair/video", LAYERS, 1),
        Track("main/audio", AUDIO),
    ]
    tracks += [Track(f"thumb{i}/video", LAYERS, 0) for i in range(thumbs) if i != 1]
    return tracks


def test_priority_order_is_main_audio_chair_audio_main_video_chair_video_thumbnails():
    keys = [t.key for t in sorted(layout(), key=lambda t: priority(t.key))]
    assert keys == [
        "main/audio",
        "chair/audio",
        "main/video",
        "chair/video",
        "thumb0/video",
        "thumb1/video",
        "thumb2/video",
        "thumb3/video",
    ]
    assert priority("thumb10/video") > priority("thumb9/video")
    assert priority("content/video") < priority("chair/audio")  # right after the speaker
    assert priority("other/video") > priority("thumb15/video")


def test_a_good_link_gets_every_slot_at_its_preferred_layer_within_4_mbits():
    chosen = allocate(10_000_000, layout())
    assert chosen["main/video"] == 2 and chosen["chair/video"] == 1
    assert all(chosen[f"thumb{i}/video"] == 0 for i in range(4))
    assert chosen["main/audio"] == chosen["chair/audio"] == 0
    total = sum(t.bitrates[chosen[t.key]] for t in layout() if chosen.get(t.key) is not None)
    assert total <= 4_000_000  # the per-site download target
    assert reduced(chosen, layout()) == "full"


def test_a_capped_link_keeps_every_picture_small_and_spends_the_rest_on_main():
    chosen = allocate(1_500_000, layout())
    assert chosen["main/video"] == 1  # 540p, not 1080p
    assert chosen["chair/video"] == 0
    assert all(chosen[f"thumb{i}/video"] == 0 for i in range(4))
    assert reduced(chosen, layout()) == "reduced"
    chosen = allocate(3_000_000, layout())  # room for the chair's middle layer, not for 1080p
    assert (chosen["main/video"], chosen["chair/video"]) == (1, 1)
    assert all(chosen[f"thumb{i}/video"] == 0 for i in range(4))
    chosen = allocate(1_000_000, layout())  # main before the thumbnails ...
    assert chosen["main/video"] == 1
    assert [chosen[f"thumb{i}/video"] for i in range(4)] == [0, None, None, None]


def test_what_does_not_fit_is_paused_from_the_bottom_down_to_audio_only():
    chosen = allocate(450_000, layout())  # 80 + 150 + 150: main stays small, one thumb fits
    assert chosen["main/audio"] == chosen["chair/audio"] == 0
    assert chosen["main/video"] == 0 and chosen["chair/video"] == 0
    assert chosen["thumb0/video"] is None
    chosen = allocate(300_000, layout())
    assert chosen["main/video"] == 0 and chosen["chair/video"] is None
    chosen = allocate(100_000, layout())
    assert chosen["main/audio"] == chosen["chair/audio"] == 0
    assert all(chosen[t.key] is None for t in layout() if t.key.endswith("/video"))
    assert reduced(chosen, layout()) == "audio"
    chosen = allocate(50_000, layout())  # not even both voices: main's first
    assert chosen["main/audio"] == 0 and chosen["chair/audio"] is None


def test_an_upgrade_needs_headroom_but_keeping_a_layer_does_not():
    tracks = [Track("main/video", LAYERS, 2)]
    assert allocate(2_600_000, tracks, {"main/video": 1})["main/video"] == 1  # 2.5 x 1.15 > 2.6
    assert allocate(2_600_000, tracks, {"main/video": 2})["main/video"] == 2  # already there
    assert allocate(2_900_000, tracks, {"main/video": 1})["main/video"] == 2


def test_single_encoding_sources_and_empty_slots():
    tracks = [Track("main/video", (2_500_000,), 2), Track("chair/video", (), 1)]
    assert allocate(3_000_000, tracks) == {"main/video": 0}
    assert allocate(1_000_000, tracks) == {"main/video": None}
    assert reduced({"main/video": 0}, tracks) == "full"


def test_the_downstream_estimate_is_remb_bounded_by_reported_loss():
    from media_worker.sfu.estimate import DownstreamEstimate

    e = DownstreamEstimate(initial=2_000_000)
    assert e.value() == 2_000_000  # before any REMB
    e.on_remb(1_400_000, 1.0)
    assert e.value() == 1_400_000
    e.on_loss(0.01, 1.0)  # little loss: REMB rules
    assert e.value() == 1_400_000
    e.on_loss(0.30, 2.0)  # 30 % lost: down to 1.4 x (1 - 0.15)
    assert e.value() == 1_190_000
    e.on_loss(0.05, 3.0)  # in between: holds
    assert e.value() == 1_190_000
    for t in range(4, 10):
        e.on_loss(0.0, float(t))  # recovers 8 % a report, up to REMB again
    assert e.value() == 1_400_000
    e.on_remb(6_000_000, 10.0)
    assert 1_400_000 < e.value() < 6_000_000  # loss bound still climbing back


def test_a_loss_report_cuts_from_what_is_sent_not_from_a_low_remb():
    """aiortc's REMB sits near 300 kbit/s while it takes ~1 Mbit/s without loss: one report
    of 12 % lost cuts the bound to 94 % of what is sent, which stays above the REMB (so
    nothing is paused), instead of to 94 % of the REMB."""
    from media_worker.sfu.estimate import DownstreamEstimate

    e = DownstreamEstimate()
    e.on_remb(300_000, 1.0)
    e.on_loss(0.12, 1.0, sent=1_000_000)
    assert e.loss_bound == 940_000 and e.loss_bound > e.remb
    e.on_loss(0.12, 2.0)  # what is sent unknown: from the estimate, as before
    assert e.loss_bound == 282_000


def test_shared_content_comes_before_the_chairs_video_and_the_thumbnails():
    tracks = [*layout(), Track("content/video", (1_200_000,), 0)]
    chosen = allocate(1_600_000, tracks)
    assert chosen["content/video"] == 0
    assert chosen["main/video"] == 0
    assert chosen["thumb3/video"] is None
