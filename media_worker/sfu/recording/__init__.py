"""Recording a conference from the RTP the SFU already receives, without re-encoding video.

See ``recorder.Recorder`` (the entry point), ``depacketize`` (RTP → frames), ``muxer``
(frames → WebM/Matroska segments) and ``mixer`` (the mixed listening track). No Django here.
"""

from .recorder import AUDIO_TRACKS, Recorder, RecorderConfig, TrackClock

__all__ = ["AUDIO_TRACKS", "Recorder", "RecorderConfig", "TrackClock"]
