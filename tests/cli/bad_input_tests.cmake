# Bad input found by a probe (issue: hostile and bad input): each gets one clear error with
# the documented exit code (2: an option, 3: a file) and no hang. Included from cli_tests.cmake.

# No prefix guessing: an abbreviation is an unknown option, on the command line and in a job
# file, and never a guess at another option.
cli_test(abbreviated_option_is_unknown ${EXPECT} 2 "unrecognised option '--coun'"
         -- ${S} generate --checkpoint x.pt --out y.h5 --coun 2)
cli_test(abbreviated_resume_is_unknown ${EXPECT} 2 "unrecognised option '--resume-int'"
         -- ${S} generate --checkpoint x.pt --out y.h5 --resume-int 5)
cli_test(abbreviated_job_key_is_unknown ${EXPECT} 2 "abbreviated_key.ini.*--coun"
         -- ${S} generate --job ${CMAKE_CURRENT_SOURCE_DIR}/data/abbreviated_key.ini --checkpoint x.pt --out y.h5)
cli_test(job_folder_is_refused ${EXPECT} 2 "--job: '.*' is a folder, not a job file"
         -- ${S} generate --job ${CMAKE_CURRENT_SOURCE_DIR}/data --checkpoint x.pt --out y.h5)
# A resolution of 2^30 used to loop for ever in the channel table.
cli_test(init_gan_huge_resolution ${EXPECT} 2 "--resolution must be a power of two from 8 to 8192, got 1073741824"
         -- ${S} init-gan --resolution 1073741824 --out ${CLI_DIR}/huge.pt)
# styleseg run parses every stage's options before the first stage runs: a misspelt key in
# [train] fails at once, not after the stages before it ran for minutes.
cli_test(run_checks_every_stage_first ${EXPECT} 2 "unrecognised option '--stepz=3'.*stage train: its options from the job do not parse.*no stage was run"
         -- env -C ${PROJECT_SOURCE_DIR} ${S} run jobs/eyes.ini --workdir ${CLI_DIR}/run_bad_key --set train.stepz=3)
# Outputs are checked before the work: cluster into a folder that cannot exist (its parent is
# a file) fails at once with exit 4, before sampling or k-means.
cli_test(cluster_unwritable_out_fails_first ${EXPECT} 4 "--out .*/not_a_folder/c.h5: cannot create folder"
         -- ${IN_TURN} touch ${CLI_DIR}/not_a_folder
         --then ${S} cluster --checkpoint ${CLI_DIR}/g.pt --feature-layer 3 --samples 4 --clusters 2 --out ${CLI_DIR}/not_a_folder/c.h5)
set_tests_properties(cli.cluster_unwritable_out_fails_first PROPERTIES FIXTURES_REQUIRED cli_generator)
# Boost.ProgramOptions loops for ever on a message whose text holds its own placeholder
# ("%value%"): found by the job_file fuzz target (tests/fuzz/corpus/job_file/regress_*).
# Refused before Boost sees it, on the command line and in a job file.
cli_test(boost_placeholder_in_value_is_refused ${EXPECT} 2 "'%value%' cannot appear in an option"
         -- ${S} generate --checkpoint x.pt --out y.h5 --count %value%)
cli_test(boost_placeholder_in_job_file_is_refused ${EXPECT} 2 "regress_boost_placeholder_loop.ini' line 1: '%invalid_line%' cannot appear"
         -- ${S} generate --job ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/job_file/regress_boost_placeholder_loop.ini --checkpoint x.pt --out y.h5)
set_tests_properties(cli.boost_placeholder_in_value_is_refused cli.boost_placeholder_in_job_file_is_refused
                     PROPERTIES TIMEOUT 30)
