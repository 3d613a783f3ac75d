# CPU-only build of the addon with node-gyp, from the same C++ sources as the CMake build (no .cu).
# Sources are listed by a command expansion, so new native/kernels/*.cc and native/binding/*.cc files
# are picked up without editing this file. Built by `node scripts/build-native.mjs --builder gyp`.
{
  'targets': [
    {
      'target_name': 'gprl',
      'sources': [
        '<!@(node -e "const fs=require(\'fs\');for(const d of [\'native/kernels\',\'native/binding\'])for(const f of fs.readdirSync(d).sort())if(f.endsWith(\'.cc\'))console.log(d+\'/\'+f)")',
      ],
      'include_dirs': [
        '<!(node -p "require(\'node-addon-api\').include_dir")',
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_CPP_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
        'GPRL_BUILDER="gyp"',
        'GPRL_VERSION="<!(node -p "require(\'./package.json\').version")"',
      ],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions', '-std=gnu++17', '-std=gnu++20', '-std=c++20'],
      'cflags': ['-O3', '-pthread'],
      'cflags_cc': ['-std=c++17', '-O3', '-fexceptions', '-pthread', '-fvisibility=hidden'],
      'ldflags': ['-pthread'],
      'xcode_settings': {
        'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
        'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
        'GCC_OPTIMIZATION_LEVEL': '3',
        'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
      },
      'msvs_settings': {
        'VCCLCompilerTool': { 'ExceptionHandling': 1, 'AdditionalOptions': ['/std:c++17', '/O2'] },
      },
    },
  ],
}
