"""fluid's book test recommender_system, with its variable-length inputs (movie categories and
title words, lod_level=1 in the book) fed padded to a fixed length with a mask, the
alternative minigraph offers to LoD: the categories' sequence_pool(sum) becomes a masked sum,
and the title's sequence_conv_pool a conv2d over time followed by a masked sum."""

import math
import time

import numpy as np

import minigraph as fluid
from tests.fluid_compat import datasets

IS_SPARSE = True
BATCH_SIZE = 64
PASS_NUM = 20
USR_DICT_SIZE, MOV_DICT_SIZE, CATEGORIES, TITLE_WORDS = 51, 41, 19, 500
CAT_LEN, TITLE_LEN = 3, 8


def get_usr_combined_features():
    uid = fluid.layers.data(name="user_id", shape=[1], dtype="int64")
    usr_emb = fluid.layers.embedding(input=uid, size=[USR_DICT_SIZE, 32], param_attr="user_table", is_sparse=IS_SPARSE)
    usr_fc = fluid.layers.fc(input=usr_emb, size=32)
    usr_gender_id = fluid.layers.data(name="gender_id", shape=[1], dtype="int64")
    usr_gender_emb = fluid.layers.embedding(input=usr_gender_id, size=[2, 16], param_attr="gender_table")
    usr_gender_fc = fluid.layers.fc(input=usr_gender_emb, size=16)
    usr_age_id = fluid.layers.data(name="age_id", shape=[1], dtype="int64")
    usr_age_emb = fluid.layers.embedding(input=usr_age_id, size=[7, 16], param_attr="age_table")
    usr_age_fc = fluid.layers.fc(input=usr_age_emb, size=16)
    usr_job_id = fluid.layers.data(name="job_id", shape=[1], dtype="int64")
    usr_job_emb = fluid.layers.embedding(input=usr_job_id, size=[21, 16], param_attr="job_table")
    usr_job_fc = fluid.layers.fc(input=usr_job_emb, size=16)
    concat_embed = fluid.layers.concat(input=[usr_fc, usr_gender_fc, usr_age_fc, usr_job_fc], axis=1)
    return fluid.layers.fc(input=concat_embed, size=200, act="tanh")


def masked_sum(seq, mask):
    """sequence_pool(pool_type='sum') of padded [N, T, D] rows: padding positions count 0."""
    return fluid.layers.reduce_sum(fluid.layers.elementwise_mul(seq, mask), dim=1)


def get_mov_combined_features():
    mov_id = fluid.layers.data(name="movie_id", shape=[1], dtype="int64")
    mov_emb = fluid.layers.embedding(input=mov_id, size=[MOV_DICT_SIZE, 32], param_attr="movie_table")
    mov_fc = fluid.layers.fc(input=mov_emb, size=32)

    category_id = fluid.layers.data(name="category_id", shape=[CAT_LEN], dtype="int64")
    category_mask = fluid.layers.data(name="category_mask", shape=[CAT_LEN, 1], dtype="float32")
    mov_categories_emb = fluid.embedding(input=category_id, size=[CATEGORIES, 32], padding_idx=0)
    mov_categories_hidden = masked_sum(mov_categories_emb, category_mask)

    mov_title_id = fluid.layers.data(name="movie_title", shape=[TITLE_LEN], dtype="int64")
    title_mask = fluid.layers.data(name="title_mask", shape=[TITLE_LEN, 1], dtype="float32")
    mov_title_emb = fluid.embedding(input=mov_title_id, size=[TITLE_WORDS, 32], padding_idx=0)
    # sequence_conv_pool(num_filters=32, filter_size=3, act="tanh", pool_type="sum") on padded rows
    as_image = fluid.layers.unsqueeze(mov_title_emb, axes=[1])  # [N, 1, T, 32]
    conv = fluid.layers.conv2d(as_image, num_filters=32, filter_size=[3, 32], padding=[1, 0], act="tanh")
    per_word = fluid.layers.transpose(fluid.layers.squeeze(conv, axes=[3]), perm=[0, 2, 1])  # [N, T, 32]
    mov_title_conv = masked_sum(per_word, title_mask)

    concat_embed = fluid.layers.concat(input=[mov_fc, mov_categories_hidden, mov_title_conv], axis=1)
    return fluid.layers.fc(input=concat_embed, size=200, act="tanh")


FEEDS = [
    "user_id", "gender_id", "age_id", "job_id", "movie_id",
    "category_id", "category_mask", "movie_title", "title_mask", "score",
]  # fmt: skip


def train(save_dirname):
    usr_combined_features = get_usr_combined_features()
    mov_combined_features = get_mov_combined_features()
    inference = fluid.layers.cos_sim(X=usr_combined_features, Y=mov_combined_features)
    scale_infer = fluid.layers.scale(x=inference, scale=5.0)
    label = fluid.layers.data(name="score", shape=[1], dtype="float32")
    square_cost = fluid.layers.square_error_cost(input=scale_infer, label=label)
    avg_cost = fluid.layers.mean(square_cost)
    test_program = fluid.default_main_program().clone(for_test=True)
    sgd_optimizer = fluid.optimizer.SGD(learning_rate=0.2)
    sgd_optimizer.minimize(avg_cost)

    place = fluid.CPUPlace()
    exe = fluid.Executor(place)
    train_data, test_data = datasets.movielens()
    train_reader = fluid.batch(fluid.reader.shuffle(train_data, buf_size=8192, seed=5), batch_size=BATCH_SIZE)
    test_reader = fluid.batch(test_data, batch_size=BATCH_SIZE)
    block = fluid.default_main_program().global_block()
    feeder = fluid.DataFeeder([block.var(name) for name in FEEDS], place)
    exe.run(fluid.default_startup_program())
    first = None
    for pass_id in range(PASS_NUM):
        for batch_id, data in enumerate(train_reader()):
            (cost,) = exe.run(fluid.default_main_program(), feed=feeder.feed(data), fetch_list=[avg_cost])
            first = float(cost) if first is None else first
            test_costs = [
                float(exe.run(test_program, feed=feeder.feed(d), fetch_list=[avg_cost])[0]) for d in test_reader()
            ]
            test_cost = float(np.mean(test_costs))
            # NOTE: the book stops at 6.0, which this data passes after one step; ask for 1.0.
            if test_cost < 1.0:
                fluid.io.save_inference_model(save_dirname, FEEDS[:-1], [scale_infer], exe)
                batch = next(test_reader())
                (expected,) = exe.run(test_program, feed=feeder.feed(batch), fetch_list=[scale_infer])
                return test_cost, first, pass_id, batch_id, expected
            assert not math.isnan(test_cost), "got NaN loss, training failed."
    raise AssertionError(f"recommender: test cost {test_cost} never went below 1.0")


def infer(save_dirname):
    exe = fluid.Executor(fluid.CPUPlace())
    with fluid.scope_guard(fluid.core.Scope()):
        program, feed_names, fetch_targets = fluid.io.load_inference_model(save_dirname, exe)
        _, test_data = datasets.movielens()
        batch = next(fluid.batch(test_data, batch_size=BATCH_SIZE)())
        block = program.global_block()
        feed = fluid.DataFeeder([block.var(n) for n in feed_names], None, program).feed([row[:-1] for row in batch])
        (results,) = exe.run(program, feed=feed, fetch_list=fetch_targets)
    return results


def test_recommender_system(tmp_path):
    start = time.perf_counter()
    save_dirname = str(tmp_path / "recommender_system.inference.model")
    with fluid.scope_guard(fluid.core.Scope()), fluid.program_guard(fluid.Program(), fluid.Program()):
        with fluid.unique_name.guard():
            cost, first, pass_id, batch_id, expected = train(save_dirname)
    results = infer(save_dirname)
    np.testing.assert_allclose(results, expected, rtol=1e-4, atol=1e-6)
    print(
        f"recommender_system: first train cost {first:.3f}, test cost {cost:.3f} < 1.0 (book: 6.0) at pass {pass_id} batch "
        f"{batch_id + 1}, {time.perf_counter() - start:.1f} s"
    )
