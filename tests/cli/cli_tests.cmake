# End-to-end tests of the styleseg binary, on a tiny generator made by `init-gan`, so they
# need no fixture. Included from tests/CMakeLists.txt.
set(CLI_DIR ${CMAKE_CURRENT_BINARY_DIR}/cli_out)
set(S $<TARGET_FILE:styleseg>)
set(EXPECT ${CMAKE_CURRENT_SOURCE_DIR}/cli/expect.sh)
set(SAME ${CMAKE_CURRENT_SOURCE_DIR}/cli/h5_same_contents.sh)
set(MPIRUN ${MPIEXEC_EXECUTABLE} ${STYLESEG_MPIEXEC_FLAGS} ${MPIEXEC_NUMPROC_FLAG})

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
set(WITH_FIXTURES ${CMAKE_CURRENT_SOURCE_DIR}/cli/with_fixtures.sh)
foreach(layout rosinality nvlabs)
  set(FIX_ARGS generate --count 5 --batch 2 --seed 4 --truncation 0.6 --noise random --feature-layer 3 --save-raw)
  string(REPLACE ";" " " FIX_ARGS "${FIX_ARGS}")
  cli_test(fixture_${layout}_zip_equals_legacy ${WITH_FIXTURES}
    "${S} ${FIX_ARGS} --checkpoint \$FIXTURES/stylegan2_${layout}/checkpoint.pt --out ${CLI_DIR}/fix_${layout}_zip.h5 &&
     ${S} ${FIX_ARGS} --checkpoint \$FIXTURES/stylegan2_${layout}/checkpoint_legacy.pt --out ${CLI_DIR}/fix_${layout}_legacy.h5 &&
     ${SAME} ${CLI_DIR}/fix_${layout}_zip.h5 ${CLI_DIR}/fix_${layout}_legacy.h5 /images /raw /features /w /z")
  set_tests_properties(cli.fixture_${layout}_zip_equals_legacy PROPERTIES SKIP_RETURN_CODE 77)
endforeach()

# (Shell lines chain with && and ||: a ';' would split the CMake argument list.)
# Resume: a run stopped by --time-limit on 2 ranks (exit 75, partial file kept) and
# finished on 1 rank gives the same file as the uninterrupted run; a partial file of a
# different job is not resumed.
string(REPLACE ";" " " GEN_LINE "${GEN_ARGS}")
string(REPLACE ";" " " MPIRUN_LINE "${MPIRUN}")
cli_test(generate_resume_stop ${EXPECT} 75 "stopped at --time-limit after 6 of 10 samples" -- bash -c
         "rm -f ${CLI_DIR}/gen_resumed.h5* && ${MPIRUN_LINE} 2 ${S} ${GEN_LINE} --out ${CLI_DIR}/gen_resumed.h5 --time-limit 0.000001")
set_tests_properties(cli.generate_resume_stop PROPERTIES FIXTURES_REQUIRED cli_generator FIXTURES_SETUP cli_resume_stop)
cli_test(generate_resume_finish ${EXPECT} 0 "resuming .*gen_resumed.h5.tmp.partial: 2 of 4 batches" --
         ${S} ${GEN_ARGS} --out ${CLI_DIR}/gen_resumed.h5)
set_tests_properties(cli.generate_resume_finish PROPERTIES FIXTURES_REQUIRED cli_resume_stop FIXTURES_SETUP cli_resumed)
cli_test(generate_resumed_same_as_uninterrupted ${SAME} ${CLI_DIR}/gen_np1.h5 ${CLI_DIR}/gen_resumed.h5)
set_tests_properties(cli.generate_resumed_same_as_uninterrupted PROPERTIES FIXTURES_REQUIRED "cli_gen_np1;cli_resumed")
cli_test(generate_other_job_starts_afresh ${EXPECT} 0 "written by a different job" -- bash -c
         "rm -f ${CLI_DIR}/gen_other.h5* && ${S} ${GEN_LINE} --out ${CLI_DIR}/gen_other.h5 --time-limit 0.000001 || true && ${S} ${GEN_LINE} --lr-mapping 0.02 --out ${CLI_DIR}/gen_other.h5")
set_tests_properties(cli.generate_other_job_starts_afresh PROPERTIES FIXTURES_REQUIRED cli_generator)
