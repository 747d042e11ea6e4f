"""``cv2_imshow`` shows nothing while grading."""


def cv2_imshow(a):
    pass
