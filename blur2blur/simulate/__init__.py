"""Camera simulator: camera-shake trajectories, camera profiles, kernels and dataset generation."""

from .camera import Camera
from .kernels import KernelFileError, load_kernels
from .make_dataset import make_dataset
from .batch import simulate_path
from .profile import CameraProfile, ProfileError, list_profiles, load_profile, save_profile
from .trajectory import Trajectory, random_trajectory, trajectory_kernel

__all__ = [
    "Camera", "CameraProfile", "KernelFileError", "ProfileError", "Trajectory", "list_profiles",
    "load_kernels", "load_profile", "make_dataset", "random_trajectory", "save_profile",
    "simulate_path", "trajectory_kernel",
]
