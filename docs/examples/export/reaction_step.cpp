// Calls an exported kinetix reaction step from C++ (libtorch), as a flow solver's chemistry step would.
//
//   reaction_step ARTIFACT STATES N DT OUT
//
// STATES: N x n float64 values (row-major, the artifact's state order, see kinetix.json); DT: the
// time step [s]; OUT receives the N x n states after DT. Prints the artifact's description first.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 6) {
        std::cerr << "usage: reaction_step ARTIFACT STATES N DT OUT\n";
        return 2;
    }
    at::set_num_threads(1);                  // one thread per MPI rank; the batch is the parallelism
    at::globalContext().setFlushDenormal(true);  // decaying species reach denormals: flush them
    torch::jit::ExtraFilesMap extra{{"kinetix.json", ""}};
    torch::jit::Module step = torch::jit::load(argv[1], torch::kCPU, extra);
    step.eval();
    std::cout << extra["kinetix.json"] << "\n";

    const int64_t n_states = std::stoll(argv[3]);
    std::ifstream in(argv[2], std::ios::binary | std::ios::ate);
    std::vector<double> states(static_cast<size_t>(in.tellg()) / sizeof(double));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(states.data()), states.size() * sizeof(double));
    const int64_t n = static_cast<int64_t>(states.size()) / n_states;

    torch::NoGradGuard no_grad;
    torch::Tensor y = torch::from_blob(states.data(), {n_states, n}, torch::kFloat64);
    torch::Tensor dt = torch::full({n_states}, std::stod(argv[4]), torch::kFloat64);
    torch::Tensor y_new = step.forward({y, dt}).toTensor().contiguous();

    std::ofstream out(argv[5], std::ios::binary);
    out.write(reinterpret_cast<const char*>(y_new.data_ptr<double>()), y_new.numel() * sizeof(double));
    return out.good() ? 0 : 1;
}
