import torch

from phonerec.decoding.ctc import ctc_loss, greedy_decode, min_frames_needed


def test_greedy_collapses_repeats_and_blanks():
    # frames: a a blank a b b blank  -> a a b ; second utt only 2 valid frames: b blank
    ids = torch.tensor([[1, 1, 0, 1, 2, 2, 0], [2, 0, 1, 1, 1, 1, 1]])
    lp = torch.nn.functional.one_hot(ids, 3).float().log_softmax(-1)
    assert greedy_decode(lp, torch.tensor([7, 2])) == [[1, 1, 2], [2]]


def test_min_frames_needed_counts_repeats():
    assert min_frames_needed([1, 2, 3]) == 3
    assert min_frames_needed([1, 1, 2, 2]) == 6


def test_impossible_alignment_is_infinite_not_zero():
    lp = torch.randn(1, 2, 4).log_softmax(-1)
    loss = ctc_loss(lp, torch.tensor([2]), torch.tensor([[1, 2, 3]]), torch.tensor([3]), reduction="sum")
    assert torch.isinf(loss)
