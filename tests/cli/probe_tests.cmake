# styleseg probe on the tiny generator and the segmenter trained above: a table per variant,
# JSON and a picture, and the same JSON on 1 and 2 ranks (the report does not depend on the
# number of ranks). Included from cli_tests.cmake.
set(PROBE_ARGS probe --checkpoint ${CLI_DIR}/g.pt --reference ${CLI_DIR}/train_np1/seg.pt --feature-layer 3
    --variant layer=3 --variant layer=5,normalize=l2,noise=none,space=whiten:8,clusters=4 --samples 8 --batch 2 --fit-pixels 64 --clusters 3
    --device cpu --seed 5)
foreach(np 1 2)
  cli_test(probe_np${np} ${EXPECT} 0
           "variant 'layer=3': layer .*\n +class +ceiling IoU +k-means IoU +cluster +precision +recall\n +a +[0-9.]+(.|\n)*variant 'layer=5,normalize=l2,noise=none,space=whiten:8,clusters=4': .*k-means K 4 in space whiten:8(.|\n)*mIoU +[0-9.]+ +[0-9.]+" --
           ${FRESH} ${CLI_DIR}/probe_np${np} -- ${MPIRUN} ${np} ${S} ${PROBE_ARGS} --out ${CLI_DIR}/probe_np${np}.json --picture ${CLI_DIR}/probe_np${np}.png)
  set_tests_properties(cli.probe_np${np} PROPERTIES FIXTURES_REQUIRED "cli_generator;cli_train_np1"
                       FIXTURES_SETUP cli_probe_np${np} PROCESSORS ${np})
endforeach()
cli_test(probe_ranks_agree ${IN_TURN} cmp ${CLI_DIR}/probe_np1.json ${CLI_DIR}/probe_np2.json
         --then test -s ${CLI_DIR}/probe_np2.png --then grep -q "\"ceiling\"" ${CLI_DIR}/probe_np1.json)
set_tests_properties(cli.probe_ranks_agree PROPERTIES FIXTURES_REQUIRED "cli_probe_np1;cli_probe_np2")
cli_test(probe_bad_variant ${EXPECT} 2 "--variant 'depth=3': unknown key 'depth'" --
         ${S} probe --checkpoint ${CLI_DIR}/g.pt --reference ${CLI_DIR}/train_np1/seg.pt --feature-layer 3 --variant depth=3)
set_tests_properties(cli.probe_bad_variant PROPERTIES FIXTURES_REQUIRED "cli_generator;cli_train_np1")
cli_test(probe_bad_space ${EXPECT} 2 "--variant 'space=whiten:0': space 'whiten:0': D must be a positive whole number" --
         ${S} probe --checkpoint ${CLI_DIR}/g.pt --reference ${CLI_DIR}/train_np1/seg.pt --feature-layer 3 --variant space=whiten:0)
set_tests_properties(cli.probe_bad_space PROPERTIES FIXTURES_REQUIRED "cli_generator;cli_train_np1")
# A variant naming a layer the generator lacks is refused before the first variant runs.
cli_test(probe_bad_layer ${EXPECT} 2 "--feature-layer '99'" --
         ${S} probe --checkpoint ${CLI_DIR}/g.pt --reference ${CLI_DIR}/train_np1/seg.pt --feature-layer 3
         --variant layer=3 --variant layer=99)
set_tests_properties(cli.probe_bad_layer PROPERTIES FIXTURES_REQUIRED "cli_generator;cli_train_np1")
