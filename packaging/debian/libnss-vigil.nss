passwd after=files vigil
group after=files vigil
