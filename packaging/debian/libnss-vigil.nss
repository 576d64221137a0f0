passwd after=files vigil
group after=files vigil
shadow after=files vigil
