# End-to-end tests of the styleseg binary, on a tiny generator made by `init-gan`, so they
# need no fixture. Included from tests/CMakeLists.txt.
set(CLI_DIR ${CMAKE_CURRENT_BINARY_DIR}/cli_out)
set(S $<TARGET_FILE:styleseg>)
set(EXPECT ${CMAKE_CURRENT_SOURCE_DIR}/cli/expect.sh)
set(SAME ${CMAKE_CURRENT_SOURCE_DIR}/cli/h5_same_contents.sh)
set(MPIRUN ${MPIEXEC_EXECUTABLE} ${STYLESEG_MPIEXEC_FLAGS} ${MPIEXEC_NUMPROC_FLAG})
# Tests pass commands as CMake lists (argv), never as shell lines: these run them.
set(CLI ${CMAKE_CURRENT_SOURCE_DIR}/cli)
set(FRESH ${CLI}/fresh.sh)      # fresh.sh PATH... -- COMMAND: removes PATH* first
set(IN_TURN ${CLI}/in_turn.sh)  # in_turn.sh A... --then B...: a && b
set(WITH_FIXTURES ${CLI}/with_fixtures.sh)  # @FIXTURES@ in an argument: the fixtures folder
# The scripts that take a whole mpirun prefix as one argument.
list(JOIN MPIRUN " " MPIRUN_LINE)

function(cli_test name)
  add_test(NAME cli.${name} COMMAND ${ARGN})
  set_tests_properties(cli.${name} PROPERTIES TIMEOUT 300 ENVIRONMENT "${STYLESEG_TEST_ENV}")
endfunction()

cli_test(init_gan ${S} init-gan --out ${CLI_DIR}/g.pt --resolution 32 --z-dim 32 --w-dim 32
         --mapping-layers 2 --channel-max 32 --seed 3)
set_tests_properties(cli.init_gan PROPERTIES FIXTURES_SETUP cli_generator)

# The same job on 1, 2 and 4 ranks: 10 samples in batches of 3 (4 batches: uneven rounds,
# an idle rank at 4 ranks... and at 2 ranks in the last round), random noise, mixing,
# features resized, raw output and compressed datasets.
set(GEN_ARGS generate --checkpoint ${CLI_DIR}/g.pt --count 10 --batch 3 --seed 11 --truncation 0.8
    --noise random --mixing-crossover 4 --feature-layer 3 --feature-size 24 --save-raw --compression 1)
foreach(np 1 2 4)
  cli_test(generate_np${np} ${MPIRUN} ${np} ${S} ${GEN_ARGS} --out ${CLI_DIR}/gen_np${np}.h5
           --png-dir ${CLI_DIR}/png_np${np} --grid ${CLI_DIR}/grid_np${np}.png)
  set_tests_properties(cli.generate_np${np} PROPERTIES FIXTURES_REQUIRED cli_generator
                       FIXTURES_SETUP cli_gen_np${np} PROCESSORS ${np})
endforeach()
foreach(np 2 4)
  cli_test(generate_same_np1_np${np} ${SAME} ${CLI_DIR}/gen_np1.h5 ${CLI_DIR}/gen_np${np}.h5)
  set_tests_properties(cli.generate_same_np1_np${np} PROPERTIES FIXTURES_REQUIRED "cli_gen_np1;cli_gen_np${np}")
endforeach()

# Latents read back from a file give the same images (z in, same truncation and noise).
cli_test(generate_from_latents ${S} ${GEN_ARGS} --latents ${CLI_DIR}/gen_np1.h5 --out ${CLI_DIR}/gen_latents.h5)
set_tests_properties(cli.generate_from_latents PROPERTIES FIXTURES_REQUIRED cli_gen_np1 FIXTURES_SETUP cli_gen_latents)
cli_test(generate_latents_same_images ${SAME} ${CLI_DIR}/gen_np1.h5 ${CLI_DIR}/gen_latents.h5 /images)
set_tests_properties(cli.generate_latents_same_images PROPERTIES FIXTURES_REQUIRED "cli_gen_np1;cli_gen_latents")

# Communication layer: correct collectives at 1, 2, 4 ranks; a failing rank ends the job.
foreach(np 1 2 4)
  cli_test(check_comm_np${np} ${EXPECT} 0 "collectives correct on ${np} rank" -- ${MPIRUN} ${np} ${S} check-comm --megabytes 1)
  set_tests_properties(cli.check_comm_np${np} PROPERTIES PROCESSORS ${np})
endforeach()
cli_test(failing_rank_stops_every_rank ${EXPECT} nonzero "rank 1: injected failure on rank 1"
         -- ${MPIRUN} 2 ${S} check-comm --fail-rank 1)

# Bad input: one clear line, non-zero exit, on every rank, no hang.
cli_test(bad_option_value ${EXPECT} 2 "styleseg generate: .*many.*--count" -- ${S} generate --checkpoint x.pt --out y.h5 --count many)
cli_test(unknown_option ${EXPECT} 2 "unrecognised option '--cuont'" -- ${MPIRUN} 2 ${S} generate --cuont 3)
cli_test(unknown_command ${EXPECT} 2 "unknown command 'generat'" -- ${S} generat)
cli_test(missing_checkpoint ${EXPECT} nonzero "missing.pt" --
         ${MPIRUN} 2 ${S} generate --checkpoint ${CLI_DIR}/missing.pt --out ${CLI_DIR}/never.h5 --count 2)
cli_test(bad_feature_layer ${EXPECT} 2 "--feature-layer '2'" --
         ${S} generate --checkpoint ${CLI_DIR}/g.pt --out ${CLI_DIR}/never.h5 --count 2 --feature-layer 2)
set_tests_properties(cli.bad_feature_layer PROPERTIES FIXTURES_REQUIRED cli_generator)
cli_test(help_lists_commands ${EXPECT} 0 "generate.*\n.*init-gan" -- ${S} --help)
cli_test(command_help_shows_defaults ${EXPECT} 0 "--truncation arg \\(=1\\)" -- ${S} generate --help)

# The reference checkpoints through the CLI: the zip and the legacy (torch < 1.6) file of
# each layout give the same samples, features and latents.
set(FIX_ARGS generate --count 5 --batch 2 --seed 4 --truncation 0.6 --noise random --feature-layer 3 --save-raw)
foreach(layout rosinality nvlabs)
  set(fix_out ${CLI_DIR}/fix_${layout})
  cli_test(fixture_${layout}_zip_equals_legacy ${WITH_FIXTURES} ${FRESH} ${fix_out}_zip.h5 ${fix_out}_legacy.h5 -- ${IN_TURN}
    ${S} ${FIX_ARGS} --checkpoint @FIXTURES@/stylegan2_${layout}/checkpoint.pt --out ${fix_out}_zip.h5 --then
    ${S} ${FIX_ARGS} --checkpoint @FIXTURES@/stylegan2_${layout}/checkpoint_legacy.pt --out ${fix_out}_legacy.h5 --then
    ${SAME} ${fix_out}_zip.h5 ${fix_out}_legacy.h5 /images /raw /features /w /z)
  set_tests_properties(cli.fixture_${layout}_zip_equals_legacy PROPERTIES SKIP_RETURN_CODE 77)
endforeach()

# Resume: a run stopped by --time-limit on 2 ranks (exit 75, partial file kept) and
# finished on 1 rank gives the same file as the uninterrupted run; a partial file of a
# different job is not resumed.
cli_test(generate_resume_stop ${EXPECT} 75 "stopped at --time-limit after 6 of 10 samples" -- ${FRESH} ${CLI_DIR}/gen_resumed.h5 --
         ${MPIRUN} 2 ${S} ${GEN_ARGS} --out ${CLI_DIR}/gen_resumed.h5 --time-limit 0.000001)
set_tests_properties(cli.generate_resume_stop PROPERTIES FIXTURES_REQUIRED cli_generator FIXTURES_SETUP cli_resume_stop)
cli_test(generate_resume_finish ${EXPECT} 0 "resuming .*gen_resumed.h5.tmp.partial: 2 of 4 batches" --
         ${S} ${GEN_ARGS} --out ${CLI_DIR}/gen_resumed.h5 --resume)
set_tests_properties(cli.generate_resume_finish PROPERTIES FIXTURES_REQUIRED cli_resume_stop FIXTURES_SETUP cli_resumed)
cli_test(generate_resumed_same_as_uninterrupted ${SAME} ${CLI_DIR}/gen_np1.h5 ${CLI_DIR}/gen_resumed.h5)
set_tests_properties(cli.generate_resumed_same_as_uninterrupted PROPERTIES FIXTURES_REQUIRED "cli_gen_np1;cli_resumed")
cli_test(generate_other_job_is_refused ${EXPECT} 2 "made by a different job \\(generator.lr_mapping: 0.02 now" --
         ${FRESH} ${CLI_DIR}/gen_other.h5 -- ${IN_TURN} --may-fail ${S} ${GEN_ARGS} --out ${CLI_DIR}/gen_other.h5 --time-limit 0.000001
         --then ${S} ${GEN_ARGS} --lr-mapping 0.02 --out ${CLI_DIR}/gen_other.h5 --resume)
set_tests_properties(cli.generate_other_job_is_refused PROPERTIES FIXTURES_REQUIRED cli_generator)
# Existing outputs, partial files, outputs that are inputs, terminating signals: one policy.
cli_test(output_policy ${CMAKE_CURRENT_SOURCE_DIR}/cli/output_policy.sh ${S} ${CLI_DIR}/g.pt ${CLI_DIR}/policy "${MPIRUN_LINE}")
set_tests_properties(cli.output_policy PROPERTIES FIXTURES_REQUIRED cli_generator PROCESSORS 2 PASS_REGULAR_EXPRESSION "all cases hold")

# An output far larger than the run gets storage as rows are written: --time-limit holds.
cli_test(allocation_follows_run ${CMAKE_CURRENT_SOURCE_DIR}/cli/allocation_follows_run.sh ${S} ${CLI_DIR}/g.pt ${CLI_DIR}/allocation "${MPIRUN_LINE}")
set_tests_properties(cli.allocation_follows_run PROPERTIES FIXTURES_REQUIRED cli_generator PROCESSORS 2 PASS_REGULAR_EXPRESSION "all cases hold")

# ---- cluster and assign ------------------------------------------------------------------
# k-means over the tiny generator's layer-3 features resized 8x8 -> 24x24 (the score-map
# route), on 1, 2 and 4 ranks: the same centroids (h5diff within 1e-6 relative) and counts.
set(CLUSTER_ARGS cluster --checkpoint ${CLI_DIR}/g.pt --feature-layer 3 --feature-size 24 --samples 20 --batch 3
    --clusters 4 --iterations 8 --tolerance 0 --seed 2 --truncation 0.8 --n-init 2)
foreach(np 1 2 4)
  cli_test(cluster_np${np} ${MPIRUN} ${np} ${S} ${CLUSTER_ARGS} --out ${CLI_DIR}/clusters_np${np}.h5
           --preview ${CLI_DIR}/clusters_np${np}.png)
  set_tests_properties(cli.cluster_np${np} PROPERTIES FIXTURES_REQUIRED cli_generator FIXTURES_SETUP cli_cluster_np${np}
                       PROCESSORS ${np})
endforeach()
foreach(np 2 4)
  cli_test(cluster_same_np1_np${np} ${CLI}/same_clusters.sh ${CLI_DIR}/clusters_np1.h5 ${CLI_DIR}/clusters_np${np}.h5)
  set_tests_properties(cli.cluster_same_np1_np${np} PROPERTIES FIXTURES_REQUIRED "cli_cluster_np1;cli_cluster_np${np}"
                       PASS_REGULAR_EXPRESSION "same")
endforeach()
cli_test(cluster_minibatch_parallel_init ${EXPECT} 0 "wrote 4 clusters" -- ${MPIRUN} 2 ${S} ${CLUSTER_ARGS}
         --algorithm minibatch --init kmeans|| --minibatch 6 --out ${CLI_DIR}/clusters_mb.h5)
set_tests_properties(cli.cluster_minibatch_parallel_init PROPERTIES FIXTURES_REQUIRED cli_generator PROCESSORS 2)

# assign: the same labels from 1 and 2 ranks, for generator samples and for a feature file.
foreach(np 1 2)
  cli_test(assign_generator_np${np} ${MPIRUN} ${np} ${S} assign --clusters ${CLI_DIR}/clusters_np1.h5
           --checkpoint ${CLI_DIR}/g.pt --count 7 --batch 2 --seed 2 --truncation 0.8 --compression 1
           --out ${CLI_DIR}/labels_np${np}.h5 --grid ${CLI_DIR}/labels_np${np}.png)
  set_tests_properties(cli.assign_generator_np${np} PROPERTIES FIXTURES_REQUIRED cli_cluster_np1
                       FIXTURES_SETUP cli_assign_np${np} PROCESSORS ${np})
endforeach()
cli_test(assign_same_np1_np2 ${SAME} ${CLI_DIR}/labels_np1.h5 ${CLI_DIR}/labels_np2.h5 /labels)
set_tests_properties(cli.assign_same_np1_np2 PROPERTIES FIXTURES_REQUIRED "cli_assign_np1;cli_assign_np2")
# The labels of the clustered samples agree with the counts cluster reported for them
# (the fixed set was samples 0-19; assign labelled 0-6 of them with the same settings).
cli_test(assign_labels_shape ${EXPECT} 0 "DATASPACE  SIMPLE \\{ \\( 7, 24, 24 \\)" -- h5dump -H -d /labels ${CLI_DIR}/labels_np1.h5)
set_tests_properties(cli.assign_labels_shape PROPERTIES FIXTURES_REQUIRED cli_assign_np1)

# k-means in a whitened space (cluster --space): the map fitted on the fixed set, summed over
# ranks, the same on 1 and 2 ranks; assign then labels the fixed set exactly as k-means
# counted it (it projects the features through the stored map).
foreach(np 1 2)
  cli_test(cluster_whiten_np${np} ${MPIRUN} ${np} ${S} ${CLUSTER_ARGS} --space whiten --out ${CLI_DIR}/clusters_whiten_np${np}.h5)
  set_tests_properties(cli.cluster_whiten_np${np} PROPERTIES FIXTURES_REQUIRED cli_generator
                       FIXTURES_SETUP cli_cluster_whiten_np${np} PROCESSORS ${np})
endforeach()
cli_test(cluster_whiten_same_np1_np2 ${CLI}/same_clusters.sh ${CLI_DIR}/clusters_whiten_np1.h5 ${CLI_DIR}/clusters_whiten_np2.h5)
set_tests_properties(cli.cluster_whiten_same_np1_np2 PROPERTIES FIXTURES_REQUIRED "cli_cluster_whiten_np1;cli_cluster_whiten_np2"
                     PASS_REGULAR_EXPRESSION "same")
cli_test(assign_whitened_fixed_set ${FRESH} ${CLI_DIR}/labels_whiten.h5 -- ${IN_TURN}
  ${MPIRUN} 2 ${S} assign --clusters ${CLI_DIR}/clusters_whiten_np1.h5 --checkpoint ${CLI_DIR}/g.pt
  --count 20 --batch 3 --seed 2 --truncation 0.8 --out ${CLI_DIR}/labels_whiten.h5
  --then ${CLI}/labels_match_counts.sh ${CLI_DIR}/clusters_whiten_np1.h5 ${CLI_DIR}/labels_whiten.h5)
set_tests_properties(cli.assign_whitened_fixed_set PROPERTIES FIXTURES_REQUIRED cli_cluster_whiten_np1 PROCESSORS 2
                     PASS_REGULAR_EXPRESSION "labels match counts")
cli_test(cluster_space_too_many_axes ${EXPECT} 2 "--space pca:100000: the features have only [0-9]+ dimensions" --
         ${S} ${CLUSTER_ARGS} --space pca:100000 --out ${CLI_DIR}/clusters_pca_bad.h5)
set_tests_properties(cli.cluster_space_too_many_axes PROPERTIES FIXTURES_REQUIRED cli_generator)

# A killed rank ends the job on every rank; --resume then finishes it (on another number
# of ranks) with the result of the uninterrupted run; a resume of another job is refused.
cli_test(cluster_killed_rank ${EXPECT} nonzero "signal 9|[Kk]illed" -- ${FRESH} ${CLI_DIR}/clusters_killed.h5 --
         env STYLESEG_KILL_AT=cluster-iteration:1:5 ${MPIRUN} 2 ${S} ${CLUSTER_ARGS} --checkpoint-interval 0 --out ${CLI_DIR}/clusters_killed.h5)
set_tests_properties(cli.cluster_killed_rank PROPERTIES FIXTURES_REQUIRED cli_generator FIXTURES_SETUP cli_cluster_killed)
cli_test(cluster_resume_other_job_refused ${EXPECT} 2 "different job \\(options.init-vectors: 5000 now, 65536 in that file\\)" --
         ${S} ${CLUSTER_ARGS} --init-vectors 5000 --resume --out ${CLI_DIR}/clusters_killed.h5)
set_tests_properties(cli.cluster_resume_other_job_refused PROPERTIES FIXTURES_REQUIRED cli_cluster_killed
                     FIXTURES_SETUP cli_cluster_refused)
cli_test(cluster_resume ${EXPECT} 0 "resuming k-means: restart 1 of 2, [0-9]+ iterations done" --
         ${S} ${CLUSTER_ARGS} --resume --out ${CLI_DIR}/clusters_killed.h5)
set_tests_properties(cli.cluster_resume PROPERTIES FIXTURES_REQUIRED "cli_cluster_killed;cli_cluster_refused"
                     FIXTURES_SETUP cli_cluster_resumed)
cli_test(cluster_resumed_same_as_uninterrupted ${CLI}/same_clusters.sh ${CLI_DIR}/clusters_np1.h5 ${CLI_DIR}/clusters_killed.h5)
set_tests_properties(cli.cluster_resumed_same_as_uninterrupted PROPERTIES
                     FIXTURES_REQUIRED "cli_cluster_np1;cli_cluster_resumed" PASS_REGULAR_EXPRESSION "same")

# A stop signal (Slurm's --signal=USR1@T) reaching one rank only: every rank stops after the
# same iteration with the state saved, exit 75; --resume finishes as if never stopped.
cli_test(cluster_signal_stop ${EXPECT} 75 "stopped on a stop request another rank received" -- ${FRESH} ${CLI_DIR}/clusters_signalled.h5 --
         env STYLESEG_SIGNAL_AT=cluster-iteration:1:3 ${MPIRUN} 2 ${S} ${CLUSTER_ARGS} --checkpoint-interval 1000 --out ${CLI_DIR}/clusters_signalled.h5)
set_tests_properties(cli.cluster_signal_stop PROPERTIES FIXTURES_REQUIRED cli_generator FIXTURES_SETUP cli_cluster_signalled PROCESSORS 2)
cli_test(cluster_signal_resume ${EXPECT} 0 "resuming k-means: restart 1 of 2, 4 iterations done" --
         ${S} ${CLUSTER_ARGS} --resume --out ${CLI_DIR}/clusters_signalled.h5)
set_tests_properties(cli.cluster_signal_resume PROPERTIES FIXTURES_REQUIRED cli_cluster_signalled FIXTURES_SETUP cli_cluster_signal_resumed)
cli_test(cluster_signalled_same_as_uninterrupted ${CLI}/same_clusters.sh ${CLI_DIR}/clusters_np1.h5 ${CLI_DIR}/clusters_signalled.h5)
set_tests_properties(cli.cluster_signalled_same_as_uninterrupted PROPERTIES FIXTURES_REQUIRED "cli_cluster_np1;cli_cluster_signal_resumed"
                     PASS_REGULAR_EXPRESSION "same")

# Bad input: one clear line, non-zero exit on every rank, no hang.
cli_test(assign_dimension_mismatch ${EXPECT} nonzero "features have 3 dimensions, the clusters in .*clusters_np1.h5 are of 32" --
         ${MPIRUN} 2 ${S} assign --clusters ${CLI_DIR}/clusters_np1.h5 --features ${CLI_DIR}/gen_np1.h5 --dataset raw
         --out ${CLI_DIR}/never.h5)
set_tests_properties(cli.assign_dimension_mismatch PROPERTIES FIXTURES_REQUIRED "cli_cluster_np1;cli_gen_np1")
cli_test(cluster_missing_dataset ${EXPECT} nonzero "gen_np1.h5: no dataset 'nope'" --
         ${MPIRUN} 2 ${S} cluster --features ${CLI_DIR}/gen_np1.h5 --dataset nope --clusters 2 --out ${CLI_DIR}/never.h5)
set_tests_properties(cli.cluster_missing_dataset PROPERTIES FIXTURES_REQUIRED cli_gen_np1)
cli_test(cluster_more_clusters_than_vectors ${EXPECT} 3 "holds 10 vectors, fewer than the 11 clusters" --
         ${S} cluster --features ${CLI_DIR}/gen_np1.h5 --dataset z --clusters 11 --out ${CLI_DIR}/never.h5)
set_tests_properties(cli.cluster_more_clusters_than_vectors PROPERTIES FIXTURES_REQUIRED cli_gen_np1)
cli_test(cluster_needs_one_input ${EXPECT} 2 "either --checkpoint .* or --features" --
         ${S} cluster --clusters 2 --out ${CLI_DIR}/never.h5)
cli_test(cluster_bad_algorithm ${EXPECT} 2 "--algorithm must be lloyd or minibatch, got 'elkan'" --
         ${S} cluster --features x.h5 --clusters 2 --out ${CLI_DIR}/never.h5 --algorithm elkan)
cli_test(cluster_preview_needs_pixels ${EXPECT} 2 "--preview needs pixels" --
         ${S} cluster --features ${CLI_DIR}/gen_np1.h5 --dataset z --clusters 2 --out ${CLI_DIR}/never.h5 --preview ${CLI_DIR}/never.png)
set_tests_properties(cli.cluster_preview_needs_pixels PROPERTIES FIXTURES_REQUIRED cli_gen_np1)

# ---- synthesize ---------------------------------------------------------------------------
# Samples with masks from the clusters above (layer 3 of the tiny generator), masks at
# 40x40 through the score-map route, clusters 0 and 2 merged, 3 ignored; 1 and 2 ranks write
# the same datasets.
set(SYN_ARGS synthesize --checkpoint ${CLI_DIR}/g.pt --clusters ${CLI_DIR}/clusters_np1.h5 --count 10 --batch 3
    --seed 4 --size 40 --truncation 0.8 --noise random --merge-file ${CMAKE_CURRENT_SOURCE_DIR}/data/merge_a_b.txt)
foreach(np 1 2)
  cli_test(synthesize_np${np} ${FRESH} ${CLI_DIR}/dataset_np${np}.h5 --
           ${MPIRUN} ${np} ${S} ${SYN_ARGS} --out ${CLI_DIR}/dataset_np${np}.h5 --grid ${CLI_DIR}/dataset_np${np}.png)
  set_tests_properties(cli.synthesize_np${np} PROPERTIES FIXTURES_REQUIRED cli_cluster_np1 FIXTURES_SETUP cli_syn_np${np}
                       PROCESSORS ${np})
endforeach()
cli_test(synthesize_same_np1_np2 ${SAME} ${CLI_DIR}/dataset_np1.h5 ${CLI_DIR}/dataset_np2.h5 /images /masks /latents /done)
set_tests_properties(cli.synthesize_same_np1_np2 PROPERTIES FIXTURES_REQUIRED "cli_syn_np1;cli_syn_np2")
cli_test(synthesize_h5py_reads_it ${CMAKE_CURRENT_SOURCE_DIR}/cli/h5py_reads_dataset.sh ${CLI_DIR}/dataset_np1.h5 10 40)
set_tests_properties(cli.synthesize_h5py_reads_it PROPERTIES FIXTURES_REQUIRED cli_syn_np1 SKIP_RETURN_CODE 77)
cli_test(synthesize_h5dump_reads_it ${EXPECT} 0 "DATASET \"masks\".*\n.*H5T_STD_U8LE.*\n.*SIMPLE \\{ \\( 10, 40, 40 \\)" --
         h5dump -H ${CLI_DIR}/dataset_np1.h5)
set_tests_properties(cli.synthesize_h5dump_reads_it PROPERTIES FIXTURES_REQUIRED cli_syn_np1)
cli_test(inspect_dataset ${EXPECT} 0 "samples: +10 of 40x40 pixels, 10 done \\(complete\\).*\n.*\n.*classes: +2.*\n +0 +a +[0-9.]+%" --
         ${S} inspect ${CLI_DIR}/dataset_np1.h5 --grid ${CLI_DIR}/dataset_inspect.png)
set_tests_properties(cli.inspect_dataset PROPERTIES FIXTURES_REQUIRED cli_syn_np1)

# ---- CLIP: embed (parity from outside) and name ---------------------------------------------
cli_test(embed_matches_reference ${WITH_FIXTURES} ${CLI}/embed_parity.sh ${CLI_DIR}/embed ${MPIRUN})
set_tests_properties(cli.embed_matches_reference PROPERTIES SKIP_RETURN_CODE 77 PROCESSORS 2)

# name at 1 and 2 ranks on copies of one clusters file: the same names and scores; the class
# map it writes feeds synthesize --merge-file, whose classes are then the names.
set(NAME_ARGS name --checkpoint ${CLI_DIR}/g.pt --clip @FIXTURES@/clip/model.pt
    --prompts hair,skin,eyes,background --samples 10 --batch 3 --assign 1=teeth)
set(VOCAB @FIXTURES@/clip/bpe_simple_vocab_16e6.txt.gz)
foreach(np 1 2)
  cli_test(name_np${np} ${WITH_FIXTURES} ${FRESH} ${CLI_DIR}/named_np${np} -- ${MPIRUN} ${np} ${S} ${NAME_ARGS} --vocab ${VOCAB}
           --clusters ${CLI_DIR}/clusters_np1.h5 --out ${CLI_DIR}/named_np${np}.h5 --merge-file ${CLI_DIR}/named_np${np}.txt
           --png ${CLI_DIR}/named_np${np}.png)
  set_tests_properties(cli.name_np${np} PROPERTIES FIXTURES_REQUIRED cli_cluster_np1 FIXTURES_SETUP cli_name_np${np}
                       SKIP_RETURN_CODE 77 PROCESSORS ${np})
endforeach()
cli_test(name_same_np1_np2 ${CMAKE_CURRENT_SOURCE_DIR}/cli/name_same_ranks.sh ${CLI_DIR}/named_np1.h5 ${CLI_DIR}/named_np2.h5
         ${CLI_DIR}/named_np1.txt ${CLI_DIR}/named_np1.png)
set_tests_properties(cli.name_same_np1_np2 PROPERTIES FIXTURES_REQUIRED "cli_name_np1;cli_name_np2" PASS_REGULAR_EXPRESSION "same names")
cli_test(name_feeds_synthesize ${EXPECT} 0 "wrote 4 samples(.|\n)*classes has 'teeth'" -- ${FRESH} ${CLI_DIR}/dataset_named.h5 -- ${IN_TURN}
         ${S} synthesize --checkpoint ${CLI_DIR}/g.pt --clusters ${CLI_DIR}/named_np1.h5 --count 4 --merge-file ${CLI_DIR}/named_np1.txt
         --out ${CLI_DIR}/dataset_named.h5 --then ${CLI}/h5_attribute_has.sh ${CLI_DIR}/dataset_named.h5 classes teeth)
set_tests_properties(cli.name_feeds_synthesize PROPERTIES FIXTURES_REQUIRED cli_name_np1)
# A ViT tower names at its patch stride by default (16 for the fixture).
cli_test(name_vit_tower ${EXPECT} 0 "output stride 16.*wrote the clusters with their names" -- ${WITH_FIXTURES} ${FRESH} ${CLI_DIR}/named_vit.h5 --
         ${S} name --checkpoint ${CLI_DIR}/g.pt --clip @FIXTURES@/clip_vit/model.pt --vocab ${VOCAB} --prompts hair,skin --samples 4
         --clusters ${CLI_DIR}/clusters_np1.h5 --out ${CLI_DIR}/named_vit.h5)
set_tests_properties(cli.name_vit_tower PROPERTIES FIXTURES_REQUIRED cli_cluster_np1 SKIP_RETURN_CODE 77)
cli_test(name_missing_vocab ${EXPECT} 3 "no-such-vocab.txt.gz" -- ${WITH_FIXTURES}
         ${MPIRUN} 2 ${S} ${NAME_ARGS} --clusters ${CLI_DIR}/clusters_np1.h5 --out ${CLI_DIR}/never_named.h5 --vocab ${CLI_DIR}/no-such-vocab.txt.gz)
set_tests_properties(cli.name_missing_vocab PROPERTIES FIXTURES_REQUIRED cli_cluster_np1 SKIP_RETURN_CODE 77)
cli_test(name_bad_assignment ${EXPECT} 2 "--assign 9=hair: there are clusters 0..3" -- ${WITH_FIXTURES}
         ${S} ${NAME_ARGS} --vocab ${VOCAB} --clusters ${CLI_DIR}/clusters_np1.h5 --out ${CLI_DIR}/never_named.h5 --assign 9=hair)
set_tests_properties(cli.name_bad_assignment PROPERTIES FIXTURES_REQUIRED cli_cluster_np1 SKIP_RETURN_CODE 77)

# styleseg run with name = true: cluster, name, synthesize on 2 ranks (jobs/ffhq.ini at toy size).
cli_test(run_named_job ${WITH_FIXTURES} ${CLI}/run_named_job.sh ${CLI_DIR}/run_named ${CLI_DIR}/g.pt ${MPIRUN})
set_tests_properties(cli.run_named_job PROPERTIES FIXTURES_REQUIRED cli_generator SKIP_RETURN_CODE 77 PROCESSORS 2
                     PASS_REGULAR_EXPRESSION "named job ok")

# ---- direction (rare classes) ---------------------------------------------------------------
# On the carried eye generator: a segmenter's pupil share rises along its direction; clusters
# of moved samples have a dark cluster that grows.
cli_test(direction_eyes ${CMAKE_CURRENT_SOURCE_DIR}/cli/direction_eyes.sh ${CLI_DIR}/direction_eyes ${MPIRUN})
set_tests_properties(cli.direction_eyes PROPERTIES PROCESSORS 2 TIMEOUT 600 PASS_REGULAR_EXPRESSION "direction eyes ok")
# The optimise method through the generator and the fixture CLIP, on 2 ranks.
cli_test(direction_clip_optimize ${WITH_FIXTURES} ${FRESH} ${CLI_DIR}/direction_clip -- ${IN_TURN}
  ${MPIRUN} 2 ${S} direction --checkpoint ${CLI_DIR}/g.pt --scorer clip --clip @FIXTURES@/clip/model.pt --vocab ${VOCAB}
  "--prompt=a red face" "--neutral=a face" --method optimize --steps 6 --batch 4 --sweep-samples 8 --alphas 0,1
  --out ${CLI_DIR}/direction_clip.h5 --preview ${CLI_DIR}/direction_clip.png
  --then ${CLI}/h5_attribute_has.sh ${CLI_DIR}/direction_clip.h5 method optimize
  --then ${CLI}/h5_attribute_has.sh ${CLI_DIR}/direction_clip.h5 scorer "a red face"
  --then test -s ${CLI_DIR}/direction_clip.png)
set_tests_properties(cli.direction_clip_optimize PROPERTIES FIXTURES_REQUIRED cli_generator SKIP_RETURN_CODE 77 PROCESSORS 2
                     PASS_REGULAR_EXPRESSION "method has 'optimize'\n.*scorer has 'a red face'")
cli_test(direction_unknown_class ${EXPECT} 2 "--class 'lashes' is not one of .*classes \\(a, b\\)" --
         ${S} direction --checkpoint ${CLI_DIR}/g.pt --scorer segmenter --model ${CLI_DIR}/train_np1/seg.pt --class lashes --out ${CLI_DIR}/never.h5)
set_tests_properties(cli.direction_unknown_class PROPERTIES FIXTURES_REQUIRED "cli_generator;cli_train_np1")
# A fit that fails on rank 0 ends both ranks with its message, no hang.
cli_test(direction_fit_fails_on_two_ranks ${EXPECT} 2 "4 samples leave 1 in each tail" --
         ${MPIRUN} 2 ${S} direction --checkpoint ${CLI_DIR}/g.pt --scorer brightness --samples 4 --batch 2 --out ${CLI_DIR}/never.h5)
set_tests_properties(cli.direction_fit_fails_on_two_ranks PROPERTIES FIXTURES_REQUIRED cli_generator PROCESSORS 2)
cli_test(direction_alpha_without_file ${EXPECT} 2 "--alpha needs --direction" --
         ${S} generate --checkpoint ${CLI_DIR}/g.pt --count 2 --alpha 2 --out ${CLI_DIR}/never.h5)
set_tests_properties(cli.direction_alpha_without_file PROPERTIES FIXTURES_REQUIRED cli_generator)
cli_test(direction_file_of_another_space ${EXPECT} 3 "has 32 dimensions.*W space 16" --
         ${FRESH} ${CLI_DIR}/direction_g.h5 ${CLI_DIR}/g16.pt -- ${IN_TURN}
         ${S} direction --checkpoint ${CLI_DIR}/g.pt --scorer brightness --samples 40 --sweep-samples 8 --alphas 0,1 --out ${CLI_DIR}/direction_g.h5
         --then ${S} init-gan --out ${CLI_DIR}/g16.pt --resolution 16 --z-dim 16 --w-dim 16 --mapping-layers 2 --channel-max 16
         --then ${S} generate --checkpoint ${CLI_DIR}/g16.pt --count 2 --direction ${CLI_DIR}/direction_g.h5 --alpha 1 --out ${CLI_DIR}/never16.h5)
set_tests_properties(cli.direction_file_of_another_space PROPERTIES FIXTURES_REQUIRED cli_generator)

# An existing output is not overwritten without --force; --force replaces it.
cli_test(synthesize_existing_output_refused ${EXPECT} 4 "dataset_np1.h5 exists: --force replaces it" --
         ${S} ${SYN_ARGS} --out ${CLI_DIR}/dataset_np1.h5)
set_tests_properties(cli.synthesize_existing_output_refused PROPERTIES FIXTURES_REQUIRED cli_syn_np1)

# Killed: one rank of two (kill -9 at round 1), or the only process (round 2); --resume
# (on the other number of ranks) completes a file identical to the uninterrupted one; a
# resume with other options is refused, naming the difference.
foreach(kill "2:synthesize-round:1:1:1" "1:synthesize-round:0:2:2")
  string(REPLACE ":" ";" parts "${kill}")
  list(GET parts 0 np)
  list(GET parts 4 other)
  list(SUBLIST parts 1 3 point)
  string(REPLACE ";" ":" point "${point}")
  set(out ${CLI_DIR}/dataset_killed_np${np}.h5)
  cli_test(synthesize_killed_np${np} ${EXPECT} nonzero "signal 9|[Kk]illed" --
           ${FRESH} ${out} -- env STYLESEG_KILL_AT=${point} ${MPIRUN} ${np} ${S} ${SYN_ARGS} --out ${out})
  set_tests_properties(cli.synthesize_killed_np${np} PROPERTIES FIXTURES_REQUIRED cli_cluster_np1
                       FIXTURES_SETUP cli_syn_killed_np${np})
  cli_test(synthesize_resume_refused_np${np} ${EXPECT} nonzero "different job \\(options.mixing-crossover: 2 now, -1 in that file\\)" --
           ${MPIRUN} ${other} ${S} ${SYN_ARGS} --mixing-crossover 2 --resume --out ${out})
  set_tests_properties(cli.synthesize_resume_refused_np${np} PROPERTIES FIXTURES_REQUIRED cli_syn_killed_np${np}
                       FIXTURES_SETUP cli_syn_refused_np${np})
  cli_test(synthesize_resume_np${np} ${EXPECT} 0 "resuming .*: [0-9]+ of 10 samples were done" --
           ${MPIRUN} ${other} ${S} ${SYN_ARGS} --resume --out ${out})
  set_tests_properties(cli.synthesize_resume_np${np} PROPERTIES FIXTURES_REQUIRED "cli_syn_killed_np${np};cli_syn_refused_np${np}"
                       FIXTURES_SETUP cli_syn_resumed_np${np})
  cli_test(synthesize_resumed_same_np${np} ${SAME} ${CLI_DIR}/dataset_np1.h5 ${out} /images /masks /latents /done)
  set_tests_properties(cli.synthesize_resumed_same_np${np} PROPERTIES FIXTURES_REQUIRED "cli_syn_np1;cli_syn_resumed_np${np}")
endforeach()

# Bad input and a full disk (a file-size limit stands in for it: 16 MB, enough for MPI's
# shared-memory files, not for 400 samples of 128x128): one clear line,
# non-zero exit on every rank, no hang.
cli_test(synthesize_unwritable_folder ${EXPECT} nonzero "cannot create folder .*g.pt" --
         ${MPIRUN} 2 ${S} ${SYN_ARGS} --out ${CLI_DIR}/g.pt/dataset.h5)
set_tests_properties(cli.synthesize_unwritable_folder PROPERTIES FIXTURES_REQUIRED cli_cluster_np1)
cli_test(synthesize_disk_full ${EXPECT} nonzero "dataset_full.h5.*(cannot|HDF5)" -- ${FRESH} ${CLI_DIR}/dataset_full.h5 --
         ${CLI}/file_size_limit.sh 16384 ${MPIRUN} 2 ${S} synthesize --checkpoint ${CLI_DIR}/g.pt --clusters ${CLI_DIR}/clusters_np1.h5
         --count 400 --size 128 --out ${CLI_DIR}/dataset_full.h5)
set_tests_properties(cli.synthesize_disk_full PROPERTIES FIXTURES_REQUIRED cli_cluster_np1)
cli_test(synthesize_bad_merge ${EXPECT} 2 "--merge '9:b': cluster 9 does not exist \\(the clusters file has 4" --
         ${S} synthesize --checkpoint ${CLI_DIR}/g.pt --clusters ${CLI_DIR}/clusters_np1.h5 --count 2 --merge 9:b
         --out ${CLI_DIR}/never.h5)
set_tests_properties(cli.synthesize_bad_merge PROPERTIES FIXTURES_REQUIRED cli_cluster_np1)
cli_test(synthesize_needs_generator_clusters ${EXPECT} 2 "holds clusters of a feature file" -- ${FRESH} ${CLI_DIR}/clusters_z.h5 -- ${IN_TURN}
         ${S} cluster --features ${CLI_DIR}/gen_np1.h5 --dataset z --clusters 2 --out ${CLI_DIR}/clusters_z.h5
         --then ${S} synthesize --checkpoint ${CLI_DIR}/g.pt --clusters ${CLI_DIR}/clusters_z.h5 --count 2 --out ${CLI_DIR}/never.h5)
set_tests_properties(cli.synthesize_needs_generator_clusters PROPERTIES FIXTURES_REQUIRED "cli_cluster_np1;cli_gen_np1")

# ---- train, segment -----------------------------------------------------------------------
# The segmenter on the dataset above (10 samples: 8 to train, 2 held out), 4 steps of a
# global batch of 4 on 1 and 2 ranks.
set(TRAIN_ARGS train --data ${CLI_DIR}/dataset_np1.h5 --steps 4 --batch 4 --val-count 2 --val-every 2
    --checkpoint-every 2 --crop 32 --device cpu --seed 3)
foreach(np 1 2)
  cli_test(train_np${np} ${EXPECT} 0 "validation mIoU [0-9.]+.*on 2 held-out samples(.|\n)*wrote the model .*seg.pt" --
           ${FRESH} ${CLI_DIR}/train_np${np} -- ${MPIRUN} ${np} ${S} ${TRAIN_ARGS} --out ${CLI_DIR}/train_np${np}/seg.pt)
  set_tests_properties(cli.train_np${np} PROPERTIES FIXTURES_REQUIRED cli_syn_np1 FIXTURES_SETUP cli_train_np${np}
                       PROCESSORS ${np})
endforeach()
# The 2-rank run reduces gradient buckets during the backward pass (MPI_Iallreduce from the
# gradient hooks); after it instead, the weights are the same to the bit.
cli_test(train_np2_after_backward ${EXPECT} 0 "wrote the model .*seg.pt" -- ${FRESH} ${CLI_DIR}/train_np2_after --
         ${MPIRUN} 2 ${S} ${TRAIN_ARGS} --gradient-overlap false --out ${CLI_DIR}/train_np2_after/seg.pt)
set_tests_properties(cli.train_np2_after_backward PROPERTIES FIXTURES_REQUIRED cli_syn_np1
                     FIXTURES_SETUP cli_train_np2_after PROCESSORS 2)
cli_test(train_gradient_overlap_same_weights ${CLI}/same_model_weights.sh ${S} ${CLI_DIR}/train_np2/seg.pt
         ${CLI_DIR}/train_np2_after/seg.pt)
set_tests_properties(cli.train_gradient_overlap_same_weights PROPERTIES FIXTURES_REQUIRED "cli_train_np2;cli_train_np2_after"
                     PASS_REGULAR_EXPRESSION "\nsame")
cli_test(inspect_segmenter ${EXPECT} 0 "input size: +40x40(.|\n)*classes: +2\n +0 +a +#[0-9a-f]+\n +1 +b(.|\n)*weights_sha256: +[0-9a-f]{64}" --
         ${S} inspect --checkpoint ${CLI_DIR}/train_np1/seg.pt)
set_tests_properties(cli.inspect_segmenter PROPERTIES FIXTURES_REQUIRED cli_train_np1)
# Killed (rank 1 of 2, kill -9 after step 3), a resume with another learning rate refused,
# then resumed from the step-2 checkpoint: the same weights as the uninterrupted run.
cli_test(train_killed ${EXPECT} nonzero "signal 9|[Kk]illed" -- ${FRESH} ${CLI_DIR}/train_killed --
         env STYLESEG_KILL_AT=train-step:1:3 ${MPIRUN} 2 ${S} ${TRAIN_ARGS} --out ${CLI_DIR}/train_killed/seg.pt)
set_tests_properties(cli.train_killed PROPERTIES FIXTURES_REQUIRED cli_syn_np1 FIXTURES_SETUP cli_train_killed)
cli_test(train_resume_refused ${EXPECT} 2 "different job \\(options.lr: 0.001 now, 0.0001 in that file\\)" --
         ${MPIRUN} 2 ${S} ${TRAIN_ARGS} --lr 0.001 --resume --out ${CLI_DIR}/train_killed/seg.pt)
set_tests_properties(cli.train_resume_refused PROPERTIES FIXTURES_REQUIRED cli_train_killed FIXTURES_SETUP cli_train_refused)
# With --phase-times, which only observes (the weights below are the uninterrupted run's).
cli_test(train_resume ${EXPECT} 0 "resuming from .*at step 2 of 4(.|\n)*train time per step over 2 steps: data [0-9.]+ ms.*forward and backward.*gradient averaging.*optimiser" --
         ${MPIRUN} 2 ${S} ${TRAIN_ARGS} --resume --phase-times --out ${CLI_DIR}/train_killed/seg.pt)
set_tests_properties(cli.train_resume PROPERTIES FIXTURES_REQUIRED "cli_train_killed;cli_train_refused"
                     FIXTURES_SETUP cli_train_resumed)
cli_test(train_resumed_same_weights ${CLI}/same_model_weights.sh ${S} ${CLI_DIR}/train_np2/seg.pt ${CLI_DIR}/train_killed/seg.pt)
set_tests_properties(cli.train_resumed_same_weights PROPERTIES FIXTURES_REQUIRED "cli_train_np2;cli_train_resumed"
                     PASS_REGULAR_EXPRESSION "\nsame")
cli_test(train_existing_output_refused ${EXPECT} 4 "holds a stopped run: --resume continues it, --force starts afresh" --
         ${S} ${TRAIN_ARGS} --out ${CLI_DIR}/train_np1/seg.pt)
set_tests_properties(cli.train_existing_output_refused PROPERTIES FIXTURES_REQUIRED cli_train_np1)
cli_test(train_uneven_batch ${EXPECT} 2 "--batch 3 must be divisible by the number of ranks \\(2\\)" --
         ${MPIRUN} 2 ${S} train --data ${CLI_DIR}/dataset_np1.h5 --batch 3 --out ${CLI_DIR}/never/seg.pt)
set_tests_properties(cli.train_uneven_batch PROPERTIES FIXTURES_REQUIRED cli_syn_np1)
cli_test(train_not_a_dataset ${EXPECT} 3 "g.pt" -- ${S} train --data ${CLI_DIR}/g.pt --out ${CLI_DIR}/never/seg.pt)
set_tests_properties(cli.train_not_a_dataset PROPERTIES FIXTURES_REQUIRED cli_generator)

# segment: the generated PNGs (32x32; the model's input is 40x40) and an unreadable file on
# 2 ranks: masks and overlays for every readable image, the bad one named, exit 3; the
# masks are what evaluate reads.
cli_test(segment_np2 ${EXPECT} 3 "skipped: cannot read image .*broken.png(.|\n)*segmented 10 images .*1 failed" -- ${FRESH} ${CLI_DIR}/segmented --
         ${MPIRUN} 2 ${S} segment --model ${CLI_DIR}/train_np1/seg.pt --input ${CLI_DIR}/png_np1 ${CMAKE_CURRENT_SOURCE_DIR}/data/broken.png
         --out ${CLI_DIR}/segmented --batch 3)
set_tests_properties(cli.segment_np2 PROPERTIES FIXTURES_REQUIRED "cli_train_np1;cli_gen_np1" FIXTURES_SETUP cli_segmented)
cli_test(segment_outputs ${EXPECT} 0 "^10 10 1$" -- ${CLI}/count_outputs.sh
         "${CLI_DIR}/segmented/*.png" "${CLI_DIR}/segmented/overlay/sample_*.png" "${CLI_DIR}/segmented/overlay/_legend.png")
set_tests_properties(cli.segment_outputs PROPERTIES FIXTURES_REQUIRED cli_segmented)
cli_test(segment_masks_evaluate ${EXPECT} 0 "evaluated 10 image\\(s\\)(.|\n)*mIoU 100.00%" --
         ${S} evaluate --pred ${CLI_DIR}/segmented --gt ${CLI_DIR}/segmented --mapping identity --classes 2 --labels 2)
set_tests_properties(cli.segment_masks_evaluate PROPERTIES FIXTURES_REQUIRED cli_segmented)
cli_test(segment_missing_model ${EXPECT} 3 "nope.pt" -- ${S} segment --model ${CLI_DIR}/nope.pt --input ${CLI_DIR} --out ${CLI_DIR}/never)

# ---- make-eyes ---------------------------------------------------------------------------
# The procedural eye dataset: 1 and 2 ranks (chunks of 5, uneven rounds) write the same file.
set(EYES_ARGS make-eyes --count 23 --height 40 --width 56 --seed 4 --batch 5 --force)
foreach(np 1 2)
  cli_test(make_eyes_np${np} ${EXPECT} 0 "wrote 23 eye images \\(56x40, near-infrared grey\\)" --
           ${MPIRUN} ${np} ${S} ${EYES_ARGS} --out ${CLI_DIR}/eyes_np${np}.h5)
  set_tests_properties(cli.make_eyes_np${np} PROPERTIES FIXTURES_SETUP cli_eyes_np${np} PROCESSORS ${np})
endforeach()
cli_test(make_eyes_same_np1_np2 ${SAME} ${CLI_DIR}/eyes_np1.h5 ${CLI_DIR}/eyes_np2.h5 /images /masks /done)
set_tests_properties(cli.make_eyes_same_np1_np2 PROPERTIES FIXTURES_REQUIRED "cli_eyes_np1;cli_eyes_np2")
cli_test(make_eyes_inspect ${EXPECT} 0 "samples: +23 of 56x40 pixels(.|\n)*classes: +4(.|\n)*sclera" --
         ${S} inspect ${CLI_DIR}/eyes_np1.h5)
set_tests_properties(cli.make_eyes_inspect PROPERTIES FIXTURES_REQUIRED cli_eyes_np1)
cli_test(make_eyes_bad_size ${EXPECT} 2 "--height and --width \\(or --size\\) must be in 16..4096" --
         ${S} make-eyes --out ${CLI_DIR}/never.h5 --size 8)

# ---- train-gan: bad values are named (the training itself: tests/unit, tests/mpi) -----------
cli_test(train_gan_bad_augment ${EXPECT} 2 "--diff-augment: 'colour' is not an augmentation" --
         ${S} train-gan --data ${CLI_DIR}/eyes_np1.h5 --out ${CLI_DIR}/never_gan.pt --resolution 16 --diff-augment color,colour)
set_tests_properties(cli.train_gan_bad_augment PROPERTIES FIXTURES_REQUIRED cli_eyes_np1)

# ---- gan-quality -------------------------------------------------------------------------
# A generator against the eye images through the trained segmenter, on 2 ranks; a second
# real set instead of a generator; the errors name the option or the file.
cli_test(gan_quality_np2 ${EXPECT} 0 "\"frechet\": [0-9.e+-]+,(.|\n)*\"share_distance_per_class\": \\{\n +\"a\": [0-9.e+-]+" --
         ${MPIRUN} 2 ${S} gan-quality --checkpoint ${CLI_DIR}/g.pt --real ${CLI_DIR}/eyes_np1.h5
         --model ${CLI_DIR}/train_np1/seg.pt --samples 20 --out ${CLI_DIR}/quality.json)
set_tests_properties(cli.gan_quality_np2 PROPERTIES FIXTURES_REQUIRED "cli_generator;cli_eyes_np1;cli_train_np1" PROCESSORS 2)
cli_test(gan_quality_images ${EXPECT} 0 "\"images\": \".*eyes_np2.h5\"" --
         ${S} gan-quality --images ${CLI_DIR}/eyes_np2.h5 --real ${CLI_DIR}/eyes_np1.h5 --model ${CLI_DIR}/train_np1/seg.pt --samples 20)
set_tests_properties(cli.gan_quality_images PROPERTIES FIXTURES_REQUIRED "cli_eyes_np1;cli_eyes_np2;cli_train_np1")
cli_test(gan_quality_one_source ${EXPECT} 2 "give --checkpoint or --images \\(one of them\\)" --
         ${S} gan-quality --checkpoint ${CLI_DIR}/g.pt --images ${CLI_DIR}/eyes_np1.h5 --real ${CLI_DIR}/eyes_np1.h5 --model m.pt)
cli_test(gan_quality_missing_model ${EXPECT} 3 "no_such_seg.pt: file not found" --
         ${S} gan-quality --checkpoint ${CLI_DIR}/g.pt --real ${CLI_DIR}/eyes_np1.h5 --model ${CLI_DIR}/no_such_seg.pt)
set_tests_properties(cli.gan_quality_missing_model PROPERTIES FIXTURES_REQUIRED "cli_generator;cli_eyes_np1")
cli_test(gan_quality_too_many ${EXPECT} 2 "50 samples asked for, but the real set has 23 images" --
         ${S} gan-quality --images ${CLI_DIR}/eyes_np2.h5 --real ${CLI_DIR}/eyes_np1.h5 --model ${CLI_DIR}/train_np1/seg.pt --samples 50)
set_tests_properties(cli.gan_quality_too_many PROPERTIES FIXTURES_REQUIRED "cli_eyes_np1;cli_eyes_np2;cli_train_np1")

# ---- evaluate ----------------------------------------------------------------------------
cli_test(evaluate_missing_folder ${EXPECT} 3 "--gt .*no_such_gt: not a folder" --
         ${S} evaluate --pred ${CLI_DIR} --gt ${CLI_DIR}/no_such_gt)
cli_test(evaluate_help ${EXPECT} 0 "--mapping arg \\(=hungarian\\)" -- ${S} evaluate --help)

# `styleseg run`: a tiny jobs/eyes.ini end to end on 2 ranks (every artefact, the report
# rendered by headless Chromium), skipping when up to date, redoing what a change touches,
# and 1 process = 2 ranks (tests/cli/run_job.sh).
cli_test(run_tiny_eyes_job ${CMAKE_CURRENT_SOURCE_DIR}/cli/run_job.sh ${S} ${PROJECT_SOURCE_DIR} ${CLI_DIR}/run_job)
set_tests_properties(cli.run_tiny_eyes_job PROPERTIES PROCESSORS 2 TIMEOUT 900)
cli_test(run_bad_stage ${EXPECT} 2 "run: stages: unknown stage 'clustr'" --
         ${S} run ${PROJECT_SOURCE_DIR}/jobs/eyes.ini --workdir ${CLI_DIR}/never --stages clustr)
cli_test(run_misspelt_section ${EXPECT} 2 "\\[trian\\] steps: no stage reads this section" --
         ${S} run ${PROJECT_SOURCE_DIR}/jobs/eyes.ini --workdir ${CLI_DIR}/never_run --set trian.steps=3)
cli_test(run_missing_input ${EXPECT} nonzero "stage train needs .*never_run2/synthetic.h5, which is missing" --
         ${MPIRUN} 2 ${S} run ${PROJECT_SOURCE_DIR}/jobs/eyes.ini --workdir ${CLI_DIR}/never_run2 --stages train)
cli_test(run_every_job_file ${CMAKE_CURRENT_SOURCE_DIR}/cli/run_job_files.sh ${S} ${PROJECT_SOURCE_DIR} ${CLI_DIR}/run_job_files)

# ---- Slurm ----------------------------------------------------------------------------------
# Every sbatch script in slurm/ parses, runs its own command through the shared launcher, and
# that command exists; then the scripts against a real Slurm started on this machine
# (tests/slurm/slurm_jobs.sh: 1 process = 2 tasks = 4 tasks, USR1 requeue, a job array).
cli_test(slurm_scripts_consistent ${PROJECT_SOURCE_DIR}/tests/slurm/scripts_consistent.sh ${S} ${PROJECT_SOURCE_DIR})
set_tests_properties(cli.slurm_scripts_consistent PROPERTIES PASS_REGULAR_EXPRESSION "consistent")
# styleseg submit without Slurm: the job file's [submit] section sizes the allocation; a global
# batch that does not split over the ranks is refused naming the option and valid sizes.
cli_test(submit_reads_the_job_files_submit_section ${EXPECT} 0 "#SBATCH --nodes=2.#SBATCH --ntasks-per-node=4.#SBATCH --gpus-per-task=1" --
         ${S} submit ${PROJECT_SOURCE_DIR}/jobs/ffhq.ini --workdir ${CLI_DIR}/submit_ffhq --generator g.pt --dry-run)
cli_test(submit_batch_must_split ${EXPECT} 2 "\\[train\\] batch = 16 does not split over 3 ranks: use 15 or 18" --
         ${S} submit ${PROJECT_SOURCE_DIR}/jobs/eyes.ini --workdir ${CLI_DIR}/submit_eyes --tasks-per-node 3 --dry-run)
cli_test(run_bad_sweep ${EXPECT} 2 "--sweep 'cluster.clusters=4,4': value '4' is given twice" --
         ${S} run ${PROJECT_SOURCE_DIR}/jobs/eyes.ini --workdir ${CLI_DIR}/bad_sweep --sweep cluster.clusters=4,4)
add_test(NAME slurm.jobs COMMAND ${PROJECT_SOURCE_DIR}/tests/slurm/slurm_jobs.sh ${S} ${PROJECT_SOURCE_DIR}
         ${CMAKE_CURRENT_BINARY_DIR}/slurm_out)
# PROCESSORS 1 and a high COST (started first): much of it is waiting (sbatch --wait polls with
# growing intervals, the requeue), when the other tests run.
set_tests_properties(slurm.jobs PROPERTIES LABELS slurm TIMEOUT 900 PROCESSORS 1 COST 10000 ENVIRONMENT "${STYLESEG_TEST_ENV}"
                     PASS_REGULAR_EXPRESSION "slurm_jobs.sh: ok|SKIPPED")

# Building on a cluster (README): tools/build.sh --configure-only in a clean environment
# (env -i, no MPI or HDF5 wrapper on PATH) with the dependencies named only through
# CMAKE_PREFIX_PATH, Torch_DIR, HDF5_ROOT and MPI_HOME; CMakeCache.txt must record exactly
# those locations. Configure only: no build.
cli_test(cluster_build_configure ${CMAKE_CURRENT_SOURCE_DIR}/cli/cluster_configure.sh ${PROJECT_SOURCE_DIR}
         ${CLI_DIR}/cluster_configure)

# Bad and hostile input: one clear error each.
include(${CMAKE_CURRENT_LIST_DIR}/bad_input_tests.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/probe_tests.cmake)

# A full disk: one error naming the file, exit 4, no crash, nothing left (root: a tmpfs).
cli_test(full_disk ${CMAKE_CURRENT_SOURCE_DIR}/cli/full_disk.sh ${S} ${CLI_DIR}/g.pt ${CLI_DIR}/full_disk "${MPIRUN_LINE}")
set_tests_properties(cli.full_disk PROPERTIES FIXTURES_REQUIRED cli_generator PROCESSORS 2 SKIP_RETURN_CODE 77
                     PASS_REGULAR_EXPRESSION "all cases hold")


# The fault matrix's quick part (tools/faults.sh --quick): generate and train on 2 ranks, at
# half their run, kill -9 of a rank, SIGTERM and SIGUSR1 to mpirun: every rank gone within
# 60 s, --resume completes to the uninterrupted outputs. The whole matrix: README "Fault matrix".
cli_test(fault_matrix_quick env BIN=${S} ${PROJECT_SOURCE_DIR}/tools/faults.sh --quick ${CLI_DIR}/faults)
set_tests_properties(cli.fault_matrix_quick PROPERTIES PROCESSORS 2 TIMEOUT 600 PASS_REGULAR_EXPRESSION "every case as expected")

# Two nodes on one machine (network namespaces and a veth link): the tiny job on 2 nodes x 1
# rank as on one process; node B killed, then the link cut, during train: every process gone
# in seconds, the job resumed on node A alone with the same scores. Skipped without
# CAP_NET_ADMIN.
cli_test(two_nodes ${CMAKE_CURRENT_SOURCE_DIR}/cli/two_nodes.sh ${S} ${PROJECT_SOURCE_DIR} ${CLI_DIR}/two_nodes)
set_tests_properties(cli.two_nodes PROPERTIES PROCESSORS 2 TIMEOUT 900 SKIP_RETURN_CODE 77
                     PASS_REGULAR_EXPRESSION "all cases hold")

# Every run of the CLI tests starts from an empty output folder: commands refuse to replace
# outputs (io/output_policy.h), so an earlier ctest run's outputs go first.
cli_test(clean_outputs ${FRESH} ${CLI_DIR} -- mkdir -p ${CLI_DIR})
set_tests_properties(cli.clean_outputs PROPERTIES FIXTURES_SETUP cli_clean)
get_property(cli_all_tests DIRECTORY PROPERTY TESTS)
foreach(test_name ${cli_all_tests})
  if(test_name MATCHES "^cli\\." AND NOT test_name STREQUAL "cli.clean_outputs")
    set_property(TEST ${test_name} APPEND PROPERTY FIXTURES_REQUIRED cli_clean)
  endif()
endforeach()
